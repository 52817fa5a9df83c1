package local

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/todo-platform/todo/pkg/auth"
)

// TestDevOIDCSignsInByCodeAndPKCE walks the web app's sign-in against the
// development provider: authorize with a PKCE challenge, the user name
// form, the code for tokens; the access token passes the platform's JWKS
// verifier as that user, and the refresh token rotates.
func TestDevOIDCSignsInByCodeAndPKCE(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer := srv.URL + OIDCPath
	h, err := newDevOIDC(issuer, t.TempDir(), []string{srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(OIDCPath+"/", h)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type answer struct {
		StatusCode int
		Header     http.Header
		Body       []byte
		URL        *url.URL
	}
	do := func(method, target string, form url.Values) answer {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequestWithContext(context.Background(), method, target, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, b, req.URL}
	}
	location := func(r answer) string {
		t.Helper()
		if r.StatusCode/100 != 3 {
			t.Fatalf("%s: %d %s, want a redirect", r.URL, r.StatusCode, r.Body)
		}
		u, err := r.URL.Parse(r.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}

	var disc struct {
		Issuer, AuthorizationEndpoint, TokenEndpoint, JwksURI string
	}
	r := do("GET", issuer+"/.well-known/openid-configuration", nil)
	if err := json.Unmarshal(r.Body, &struct {
		Issuer *string `json:"issuer"`
		A      *string `json:"authorization_endpoint"`
		T      *string `json:"token_endpoint"`
		J      *string `json:"jwks_uri"`
	}{&disc.Issuer, &disc.AuthorizationEndpoint, &disc.TokenEndpoint, &disc.JwksURI}); err != nil || disc.Issuer != issuer {
		t.Fatalf("discovery: issuer %q, %v", disc.Issuer, err)
	}

	verifier := "a-pkce-code-verifier-of-enough-length-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {WebClientID}, "redirect_uri": {srv.URL + "/"}, "response_type": {"code"},
		"scope": {"openid profile offline_access"}, "state": {"s1"}, "nonce": {"n1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	login := location(do("GET", disc.AuthorizationEndpoint+"?"+q.Encode(), nil))
	if !strings.Contains(login, OIDCPath+"/login?id=") {
		t.Fatalf("authorize sends to %s, not the login form", login)
	}
	page := do("GET", login, nil)
	if page.StatusCode != 200 || !strings.Contains(string(page.Body), `name="username"`) || !strings.Contains(page.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("login page: %d %s", page.StatusCode, page.Body)
	}
	id := strings.SplitN(login, "id=", 2)[1]
	if r := do("POST", issuer+"/login", url.Values{"id": {id}, "username": {""}}); r.StatusCode != 200 {
		t.Errorf("an empty user name: %d, want the form again", r.StatusCode)
	}
	callback := location(do("POST", issuer+"/login", url.Values{"id": {id}, "username": {"alice"}}))
	back, err := url.Parse(location(do("GET", callback, nil)))
	if err != nil || back.Query().Get("state") != "s1" || back.Query().Get("code") == "" {
		t.Fatalf("back at the app with %v (%v)", back, err)
	}

	type tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
		Error        string `json:"error"`
	}
	exchange := func(form url.Values) (int, tokens) {
		r := do("POST", disc.TokenEndpoint, form)
		var tk tokens
		_ = json.Unmarshal(r.Body, &tk)
		return r.StatusCode, tk
	}
	code := back.Query().Get("code")
	if st, _ := exchange(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {srv.URL + "/"}, "client_id": {WebClientID}, "code_verifier": {"wrong-verifier-wrong-verifier-wrong-verifier"}}); st == 200 {
		t.Error("a wrong PKCE verifier got tokens")
	}
	st, tk := exchange(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {srv.URL + "/"}, "client_id": {WebClientID}, "code_verifier": {verifier}})
	if st != 200 || tk.AccessToken == "" || tk.RefreshToken == "" || tk.IDToken == "" {
		t.Fatalf("token: %d %+v", st, tk)
	}

	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKSURL: disc.JwksURI, Issuer: "todo-platform," + issuer})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(tk.AccessToken); err != nil || c.UserID != "alice" {
		t.Fatalf("the access token: %+v, %v", c, err)
	}

	st, tk2 := exchange(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}, "client_id": {WebClientID}})
	if st != 200 || tk2.AccessToken == "" || tk2.RefreshToken == "" || tk2.RefreshToken == tk.RefreshToken {
		t.Fatalf("refresh: %d %+v", st, tk2)
	}
	if c, err := v.Verify(tk2.AccessToken); err != nil || c.UserID != "alice" {
		t.Fatalf("the refreshed access token: %+v, %v", c, err)
	}
	if st, _ := exchange(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}, "client_id": {WebClientID}}); st == 200 {
		t.Error("a used refresh token worked again")
	}
}
