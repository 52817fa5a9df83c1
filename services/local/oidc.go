package local

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/todo-platform/todo/pkg/auth"
)

// The development OpenID provider of `make up` (zitadel/oidc's certified
// op package): it signs in any user name without a password, so that the
// local web app takes the very code path of production (authorization
// code + PKCE, JWT access tokens verified through the JWKS).
const (
	// OIDCPath is where the front serves the provider; its issuer is the
	// front's origin + OIDCPath.
	OIDCPath = "/oidc"
	// WebClientID is the web app's public client id.
	WebClientID    = "todo-web"
	accessTokenTTL = 15 * time.Minute
	refreshTTL     = 24 * time.Hour
	signInTTL      = 10 * time.Minute
)

var errNotFound = errors.New("not found")

// devOIDC is the provider's storage, in memory (a restart signs everyone
// out, which the app handles by signing in again).
type devOIDC struct {
	key      *rsa.PrivateKey
	keyID    string
	audience string
	client   *webClient

	mu       sync.Mutex
	requests map[string]*authRequest // by id
	codes    map[string]string       // code -> request id
	tokens   map[string]string       // access token id -> subject
	refresh  map[string]*refreshToken
}

var _ op.Storage = (*devOIDC)(nil)

// newDevOIDC returns the provider's handler, to be served at OIDCPath of
// issuer's origin. Its signing key is kept in dataDir (tokens survive a
// restart); redirects go to the app at origins.
func newDevOIDC(issuer, dataDir string, origins []string) (http.Handler, error) {
	key, err := signingKeyIn(filepath.Join(dataDir, "oidc-signing-key.pem"))
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	kid := sha256.Sum256(der)
	s := &devOIDC{
		key: key, keyID: hex.EncodeToString(kid[:8]), audience: auth.DefaultAudience,
		client:   &webClient{origins: origins},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]string{}, refresh: map[string]*refreshToken{},
	}
	cryptoKey := sha256.Sum256(x509.MarshalPKCS1PrivateKey(key))
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
	}, s, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("development OpenID provider: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/login", op.NewIssuerInterceptor(provider.IssuerFromRequest).Handler(s.login(op.AuthCallbackURL(provider))))
	mux.Handle("/", provider)
	return http.StripPrefix(OIDCPath, mux), nil
}

// signingKeyIn reads the RSA key in path, made on first use.
func signingKeyIn(path string) (*rsa.PrivateKey, error) {
	if b, err := os.ReadFile(path); err == nil { //nolint:gosec // the runner's own key file
		if blk, _ := pem.Decode(b); blk != nil {
			if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
				return k, nil
			}
		}
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // as the data folder (see secret)
		return nil, err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return k, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (development)</title></head>
<body><main>
<h1>Sign in</h1>
<p>Development sign-in of the local platform: any user name, no password.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" autofocus required maxlength="200" value="{{.User}}">
<button type="submit">Sign in</button>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
</form></main></body></html>
`))

// login asks for a user name and finishes the sign-in request with it.
func (s *devOIDC) login(callback func(context.Context, string) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		id := r.FormValue("id")
		s.mu.Lock()
		req, ok := s.requests[id]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "this sign-in has expired or is unknown: start again from the app", http.StatusBadRequest)
			return
		}
		data := map[string]string{"Action": OIDCPath + "/login", "ID": id}
		if r.Method == http.MethodPost {
			user := r.PostFormValue("username")
			if err := auth.CheckUserID(user); err != nil {
				data["User"], data["Error"] = user, "That user name cannot be used: "+err.Error()
			} else {
				s.mu.Lock()
				req.Subject, req.AuthTime, req.done = user, time.Now(), true
				s.mu.Unlock()
				http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
				return
			}
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		_ = loginPage.Execute(w, data)
	})
}

// authRequest is a sign-in in progress.
type authRequest struct {
	oidc.AuthRequest
	id       string
	Subject  string
	AuthTime time.Time
	created  time.Time
	done     bool
	audience []string
}

func (a *authRequest) GetID() string                      { return a.id }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return []string{"dev"} }
func (a *authRequest) GetAudience() []string              { return a.audience }
func (a *authRequest) GetAuthTime() time.Time             { return a.AuthTime }
func (a *authRequest) GetClientID() string                { return a.ClientID }
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.Subject }
func (a *authRequest) Done() bool                         { return a.done }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: a.CodeChallengeMethod}
}

// refreshToken is a refresh token's grant; each use replaces it (rotation).
type refreshToken struct {
	token, subject, clientID string
	scopes, audience, amr    []string
	authTime, expires        time.Time
}

func (t *refreshToken) GetAMR() []string                 { return t.amr }
func (t *refreshToken) GetAudience() []string            { return t.audience }
func (t *refreshToken) GetAuthTime() time.Time           { return t.authTime }
func (t *refreshToken) GetClientID() string              { return t.clientID }
func (t *refreshToken) GetScopes() []string              { return t.scopes }
func (t *refreshToken) GetSubject() string               { return t.subject }
func (t *refreshToken) SetCurrentScopes(scopes []string) { t.scopes = scopes }

// CreateAuthRequest starts a sign-in; old unfinished ones are dropped.
func (s *devOIDC) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, a := range s.requests {
		if time.Since(a.created) > signInTTL {
			delete(s.requests, id)
		}
	}
	a := &authRequest{AuthRequest: *r, id: newID(), created: time.Now(), audience: []string{r.ClientID, s.audience}}
	s.requests[a.id] = a
	return a, nil
}

func (s *devOIDC) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *devOIDC) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *devOIDC) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *devOIDC) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *devOIDC) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID()
	s.tokens[id] = r.GetSubject()
	return id, time.Now().Add(accessTokenTTL), nil
}

func (s *devOIDC) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	id, exp, err := s.CreateAccessToken(ctx, r)
	if err != nil {
		return "", "", time.Time{}, err
	}
	rt := &refreshToken{token: newID() + newID(), subject: r.GetSubject(), scopes: r.GetScopes(), audience: r.GetAudience(), expires: time.Now().Add(refreshTTL)}
	switch req := r.(type) {
	case op.AuthRequest:
		rt.clientID, rt.amr, rt.authTime = req.GetClientID(), req.GetAMR(), req.GetAuthTime()
	case op.RefreshTokenRequest:
		rt.clientID, rt.amr, rt.authTime = req.GetClientID(), req.GetAMR(), req.GetAuthTime()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if current != "" {
		if _, ok := s.refresh[current]; !ok {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refresh, current)
	}
	s.refresh[rt.token] = rt
	return id, rt.token, exp, nil
}

func (s *devOIDC) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok || time.Now().After(rt.expires) {
		return nil, op.ErrInvalidRefreshToken
	}
	return rt, nil
}

func (s *devOIDC) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, rt := range s.refresh {
		if rt.subject == userID && rt.clientID == clientID {
			delete(s.refresh, k)
		}
	}
	return nil
}

func (s *devOIDC) RevokeToken(_ context.Context, token, userID, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.refresh[token]; ok && (userID == "" || rt.subject == userID) {
		delete(s.refresh, token)
	}
	delete(s.tokens, token)
	return nil
}

func (s *devOIDC) GetRefreshTokenInfo(_ context.Context, _, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.subject, token, nil
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }

func (s *devOIDC) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.keyID, s.key}, nil
}

func (s *devOIDC) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *devOIDC) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.keyID, &s.key.PublicKey}}, nil
}

func (s *devOIDC) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != WebClientID {
		return nil, errNotFound
	}
	return s.client, nil
}

func (s *devOIDC) AuthorizeClientIDSecret(context.Context, string, string) error {
	return errors.New("the web app is a public client: it has no secret")
}

func userinfo(info *oidc.UserInfo, subject string) {
	info.Subject = subject
	info.PreferredUsername = subject
	info.Name = subject
}

func (s *devOIDC) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, _ []string) error {
	userinfo(info, userID)
	return nil
}

func (s *devOIDC) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	sub, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok {
		sub = subject
	}
	userinfo(info, sub)
	return nil
}

func (s *devOIDC) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, _, subject, clientID string) error {
	r.Active = true
	r.Subject = subject
	r.ClientID = clientID
	r.Username = subject
	return nil
}

func (s *devOIDC) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *devOIDC) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *devOIDC) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *devOIDC) Health(context.Context) error { return nil }

// webClient is the web app: a public client (PKCE, no secret) that gets
// JWT access tokens for the platform's API.
type webClient struct{ origins []string }

var _ op.Client = (*webClient)(nil)

func (c *webClient) GetID() string { return WebClientID }
func (c *webClient) RedirectURIs() []string {
	out := make([]string, len(c.origins))
	for i, o := range c.origins {
		out[i] = o + "/"
	}
	return out
}
func (c *webClient) PostLogoutRedirectURIs() []string    { return c.RedirectURIs() }
func (c *webClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeUserAgent }
func (c *webClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodNone }
func (c *webClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *webClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *webClient) LoginURL(id string) string           { return OIDCPath + "/login?id=" + id }
func (c *webClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *webClient) IDTokenLifetime() time.Duration      { return time.Hour }
func (c *webClient) DevMode() bool                       { return true } // http:// redirects on loopback
func (c *webClient) IsScopeAllowed(scope string) bool {
	return slices.Contains([]string{oidc.ScopeOfflineAccess}, scope)
}
func (c *webClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *webClient) ClockSkew() time.Duration             { return 0 }
func (c *webClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *webClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
