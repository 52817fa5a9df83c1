// Sign-in. With an OpenID provider configured: authorization code + PKCE
// (oidc-client-ts), the tokens kept in memory only and renewed with the
// refresh token. Without one (a taskapi alone, in development): a pasted
// token, kept in memory too.
import { InMemoryWebStorage, UserManager, WebStorageStateStore, type User } from "oidc-client-ts";

export interface AppConfig {
  oidc: { authority: string; client_id: string; scope?: string } | null;
  realtime_url: string;
}

export const CONFIG_PATH = "/app-config.json";

export async function loadConfig(): Promise<AppConfig> {
  const resp = await fetch(CONFIG_PATH, { cache: "no-store" });
  if (!resp.ok) throw new Error(`${CONFIG_PATH}: HTTP ${resp.status}`);
  const c = (await resp.json()) as Partial<AppConfig>;
  return { oidc: c.oidc ?? null, realtime_url: c.realtime_url ?? "" };
}

export function userManager(c: NonNullable<AppConfig["oidc"]>, origin: string): UserManager {
  return new UserManager({
    authority: c.authority,
    client_id: c.client_id,
    redirect_uri: origin + "/",
    post_logout_redirect_uri: origin + "/",
    response_type: "code",
    scope: c.scope ?? "openid profile offline_access",
    // Tokens in memory only; the short-lived PKCE state of a redirect in
    // the tab's session storage (it must survive the redirect).
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
    loadUserInfo: false,
  });
}

/** isCallback says whether the page URL is the provider's answer. */
export function isCallback(search: string): boolean {
  const p = new URLSearchParams(search);
  return p.has("state") && (p.has("code") || p.has("error"));
}

/** userName is what to call the signed-in user. */
export function userName(u: User): string {
  return String(u.profile.preferred_username ?? u.profile.name ?? u.profile.sub);
}

/** tokenSubject reads the subject of a JWT, unverified: only to greet. */
export function tokenSubject(token: string): string {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : "";
  } catch {
    return "";
  }
}
