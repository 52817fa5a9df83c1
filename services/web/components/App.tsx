"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import type { UserManager } from "oidc-client-ts";

import { client } from "../lib/api";
import { isCallback, loadConfig, tokenSubject, userManager, userName, type AppConfig } from "../lib/auth";
import { browserZone } from "../lib/zone";
import { Tasks } from "./Tasks";

type Session = { token: string; user: string };

// The access token lives in this module's memory only: never in storage
// or a URL, gone with the page.
let accessToken: string | null = null;
const currentToken = () => accessToken;
const api = client("", currentToken);

/** App loads the configuration, signs the user in and shows the tasks. */
export function App() {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [error, setError] = useState("");
  const [session, setSessionState] = useState<Session | null>(null);
  const manager = useRef<UserManager | null>(null);
  const setSession = useCallback((s: Session | null) => {
    accessToken = s?.token ?? null;
    setSessionState(s);
  }, []);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const c = await loadConfig();
        if (cancelled) return;
        setConfig(c);
        if (!c.oidc) return;
        const m = userManager(c.oidc, window.location.origin);
        manager.current = m;
        m.events.addUserLoaded((u) => setSession({ token: u.access_token, user: userName(u) }));
        m.events.addUserSignedOut(() => setSession(null));
        m.events.addSilentRenewError(() => setSession(null));
        if (isCallback(window.location.search)) {
          const u = await m.signinRedirectCallback();
          const back = typeof u.state === "string" ? u.state : "/";
          window.history.replaceState(null, "", back);
          if (!cancelled) setSession({ token: u.access_token, user: userName(u) });
        }
      } catch (e) {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [setSession]);

  const signOut = useCallback(() => {
    setSession(null);
    void manager.current?.removeUser();
  }, [setSession]);

  if (error) {
    return (
      <main className="center">
        <p role="alert" className="error">
          The app cannot start: {error}
        </p>
      </main>
    );
  }
  if (!config) {
    return (
      <main className="center">
        <p aria-live="polite">Loading…</p>
      </main>
    );
  }
  if (!session) {
    return (
      <SignIn
        oidc={config.oidc !== null}
        onProvider={() => {
          const here = window.location.pathname + window.location.search;
          void manager.current?.signinRedirect({ state: here });
        }}
        onToken={(token) => setSession({ token, user: tokenSubject(token) || "you" })}
      />
    );
  }
  return (
    <Tasks
      api={api}
      user={session.user}
      token={currentToken}
      realtimeURL={config.realtime_url}
      timeZone={browserZone()}
      onSignOut={signOut}
    />
  );
}

function SignIn(props: { oidc: boolean; onProvider(): void; onToken(t: string): void }) {
  const [token, setToken] = useState("");
  return (
    <main className="center signin">
      <h1>Todo</h1>
      {props.oidc ? (
        <button id="sign-in" className="primary" onClick={props.onProvider} autoFocus>
          Sign in
        </button>
      ) : (
        <form
          id="token-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (token.trim()) props.onToken(token.trim());
          }}
        >
          <label htmlFor="token">Access token</label>
          <p className="hint">No sign-in provider is configured here: paste a token (e.g. from make token). It is kept in this page&apos;s memory only.</p>
          <input id="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
          <button type="submit" className="primary">
            Sign in
          </button>
        </form>
      )}
    </main>
  );
}
