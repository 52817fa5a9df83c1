import { describe, expect, it } from "vitest";

import { applyTag, presentTags, suggestTags, tagFragment, type TagMode } from "./tags";

const at = (s: string) => ({ text: s.replace("|", ""), caret: s.indexOf("|") });

describe("tag autocomplete", () => {
  const mine = ["home", "work", "homework", "garden", "hobby", "errands"];

  it("finds the tag being typed at the caret", () => {
    const cases: [TagMode, string, string | null][] = [
      ["quick", "Pay rent #ho|", "ho"],
      ["quick", "Pay rent #|", ""],
      ["quick", "#Ho| tomorrow", "ho"],
      ["quick", "Pay #ho|me tomorrow", "ho"],
      ["quick", "Pay rent ho|", null],
      ["quick", "Pay rent| #home", null],
      ["quick", "a#b|", null],
      ["list", "home, wo|", "wo"],
      ["list", "|", ""],
      ["list", "Ho|", "ho"],
      ["list", "home,  gar|den, work", "gar"],
    ];
    for (const [mode, s, want] of cases) {
      const { text, caret } = at(s);
      expect(tagFragment(text, caret, mode)?.prefix ?? null, `${mode} ${s}`).toBe(want);
    }
  });

  it("suggests the user's tags that complete it, most used first, none twice", () => {
    expect(suggestTags(mine, "ho", [])).toEqual(["home", "homework", "hobby"]);
    expect(suggestTags(mine, "work", [])).toEqual(["homework"]);
    expect(suggestTags(mine, "ho", ["home", "ho"])).toEqual(["homework", "hobby"]);
    expect(suggestTags(mine, "", [], 3)).toEqual(["home", "work", "homework"]);
    expect(suggestTags(mine, "zz", [])).toEqual([]);
    expect(suggestTags([], "h", [])).toEqual([]);
  });

  it("puts the chosen tag in place, the caret after it", () => {
    const cases: [TagMode, string, string, string][] = [
      ["quick", "Pay rent #ho|", "home", "Pay rent #home |"],
      ["quick", "Pay #ho| tomorrow", "home", "Pay #home |tomorrow"],
      ["quick", "Pay #ho|me2 tomorrow", "homework", "Pay #homework |tomorrow"],
      ["list", "work, ho|", "home", "work, home, |"],
      ["list", "ho|, work", "home", "home|, work"],
      ["list", "work,ga|", "garden", "work,garden, |"],
    ];
    for (const [mode, s, tag, want] of cases) {
      const { text, caret } = at(s);
      const r = applyTag(text, tagFragment(text, caret, mode)!, tag, mode);
      expect(r.text.slice(0, r.caret) + "|" + r.text.slice(r.caret), `${mode} ${s}`).toBe(want);
    }
  });

  it("knows the tags a text already holds", () => {
    expect(presentTags("Pay #Home rent #work", "quick")).toEqual(["home", "work"]);
    expect(presentTags(" home, Work ,", "list")).toEqual(["home", "work"]);
  });
});
