// Package auth verifies the platform's bearer tokens: JWTs signed either with
// a shared HS256 secret or with asymmetric keys published at a JWKS URL
// (github.com/golang-jwt/jwt and github.com/MicahParks/keyfunc). The algorithm
// is pinned by configuration, never chosen by the token; exp is required and
// nbf, iss and aud are checked. The user id is the token's subject.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/todo-platform/todo/pkg/web"
)

// Defaults of the token claims.
const (
	DefaultIssuer   = "todo-platform"
	DefaultAudience = "todo-api"
	MaxUserIDLen    = 200
)

// Errors of token verification.
var (
	ErrNoToken       = errors.New("no bearer token")
	ErrInvalidToken  = errors.New("invalid token")
	ErrNotConfigured = errors.New("no JWT key configured: set JWT_SECRET (HS256) or JWT_JWKS_URL")
)

// A token whose kid is not in the key set makes the verifier fetch the set
// again (a rotated key), at most once every UnknownKIDRefreshEvery; the
// fetch, and a token's wait for its turn, last at most JWKSFetchTimeout. So
// tokens with made-up kids cost the issuer one fetch a minute and never hold
// a request longer than that timeout, even when the issuer hangs.
const (
	UnknownKIDRefreshEvery = time.Minute
	JWKSFetchTimeout       = 5 * time.Second
)

// Config selects the keys and the claims a token must carry.
type Config struct {
	// Secret is the HS256 shared secret (at least 32 bytes).
	Secret string
	// JWKSURL publishes the asymmetric keys; Algorithms pins their algorithms
	// (default RS256).
	JWKSURL    string
	Algorithms []string
	// Issuer is the accepted iss, or several as a comma list (the local
	// platform accepts its development tokens and its OpenID provider's).
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp and nbf (default 30 s).
	Leeway time.Duration
}

// ConfigFromEnv reads JWT_SECRET, JWT_JWKS_URL, JWT_ALGORITHMS (comma list),
// JWT_ISSUER and JWT_AUDIENCE.
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		Secret:   getenv("JWT_SECRET"),
		JWKSURL:  getenv("JWT_JWKS_URL"),
		Issuer:   getenv("JWT_ISSUER"),
		Audience: getenv("JWT_AUDIENCE"),
	}
	if a := getenv("JWT_ALGORITHMS"); a != "" {
		for _, s := range strings.Split(a, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Algorithms = append(c.Algorithms, s)
			}
		}
	}
	return c
}

// Claims are what a verified token says.
type Claims struct {
	UserID    string
	ExpiresAt time.Time
}

// Verifier checks tokens.
type Verifier struct {
	parser  *jwt.Parser
	secret  []byte
	jwks    keyfunc.Keyfunc
	issuers []string
}

// NewVerifier builds a verifier. With a JWKS URL it fetches the key set now
// and refreshes it in the background until ctx ends.
func NewVerifier(ctx context.Context, c Config) (*Verifier, error) {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	v := &Verifier{}
	for _, iss := range strings.Split(c.Issuer, ",") {
		if iss = strings.TrimSpace(iss); iss != "" {
			v.issuers = append(v.issuers, iss)
		}
	}
	var methods []string
	if c.Secret != "" {
		if len(c.Secret) < 32 {
			return nil, errors.New("JWT_SECRET must be at least 32 bytes long")
		}
		v.secret = []byte(c.Secret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if c.JWKSURL != "" {
		algs := c.Algorithms
		if len(algs) == 0 {
			algs = []string{"RS256"}
		}
		for _, a := range algs {
			if strings.HasPrefix(a, "HS") || a == "none" {
				return nil, fmt.Errorf("JWT_ALGORITHMS: %q is not an asymmetric algorithm", a)
			}
			if jwt.GetSigningMethod(a) == nil {
				return nil, fmt.Errorf("JWT_ALGORITHMS: unknown algorithm %q", a)
			}
		}
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.JWKSURL}, keyfunc.Override{
			HTTPTimeout:       JWKSFetchTimeout,
			RateLimitWaitMax:  JWKSFetchTimeout,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(UnknownKIDRefreshEvery), 1),
		})
		if err != nil {
			return nil, fmt.Errorf("load JWKS from %s: %w", c.JWKSURL, err)
		}
		v.jwks = k
		methods = append(methods, algs...)
	}
	if len(methods) == 0 {
		return nil, ErrNotConfigured
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(c.Audience),
		jwt.WithLeeway(c.Leeway),
	)
	return v, nil
}

func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
		if v.secret == nil {
			return nil, errors.New("HMAC tokens are not accepted")
		}
		return v.secret, nil
	}
	if v.jwks == nil {
		return nil, errors.New("asymmetric tokens are not accepted")
	}
	return v.jwks.Keyfunc(t)
}

// Verify checks token and returns its claims. Every failure wraps
// ErrInvalidToken with a reason fit to show the client.
func (v *Verifier) Verify(token string) (Claims, error) {
	var rc jwt.RegisteredClaims
	t, err := v.parser.ParseWithClaims(token, &rc, v.key)
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		return Claims{}, fmt.Errorf("%w: the token lacks a required claim%s", ErrInvalidToken, missingClaims(rc))
	}
	if err != nil || !t.Valid {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
	}
	if rc.Issuer == "" {
		return Claims{}, fmt.Errorf("%w: the token lacks a required claim (iss)", ErrInvalidToken)
	}
	if !slices.Contains(v.issuers, rc.Issuer) {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalidToken, reason(jwt.ErrTokenInvalidIssuer))
	}
	if err := CheckUserID(rc.Subject); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	c := Claims{UserID: rc.Subject}
	if rc.ExpiresAt != nil {
		c.ExpiresAt = rc.ExpiresAt.Time
	}
	return c, nil
}

func reason(err error) string {
	switch {
	case err == nil:
		return "not valid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience is not accepted"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signature or algorithm is not accepted"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	default:
		return "the token could not be verified"
	}
}

// missingClaims names the required claims rc lacks, as " (aud, iss)": the
// parser's error says only that one is missing (the first it checked).
func missingClaims(rc jwt.RegisteredClaims) string {
	var missing []string
	if rc.ExpiresAt == nil {
		missing = append(missing, "exp")
	}
	if len(rc.Audience) == 0 {
		missing = append(missing, "aud")
	}
	if rc.Issuer == "" {
		missing = append(missing, "iss")
	}
	if len(missing) == 0 {
		return ""
	}
	return " (" + strings.Join(missing, ", ") + ")"
}

// CheckUserID says whether id can be a user id: a subject of 1 to 200
// printable characters.
func CheckUserID(id string) error {
	if id == "" {
		return errors.New("the token has no subject (sub)")
	}
	if len(id) > MaxUserIDLen {
		return fmt.Errorf("the token's subject is longer than %d bytes", MaxUserIDLen)
	}
	if strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return errors.New("the token's subject holds unprintable characters")
	}
	return nil
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", ErrNoToken
	}
	return strings.TrimSpace(tok), nil
}

type ctxKey struct{}

// WithUserID returns ctx carrying the authenticated user id.
func WithUserID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// UserID returns the authenticated user of ctx ("" when there is none).
func UserID(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}

// Guard limits failed authentications (pkg/ratelimit's Limiter is one).
type Guard interface {
	// Blocked answers the request (429) and reports true when its client
	// has failed too often to be let try again yet.
	Blocked(w http.ResponseWriter, r *http.Request) bool
	// Failed counts a failed authentication of the request's client.
	Failed(r *http.Request)
}

// Middleware rejects requests without a valid bearer token with a 401 problem
// and passes the others on with the user id in their context. Each guard is
// asked first whether the client may try at all, and told of each failure.
func Middleware(v *Verifier, guards ...Guard) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, g := range guards {
				if g.Blocked(w, r) {
					return
				}
			}
			failed := func() {
				for _, g := range guards {
					g.Failed(r)
				}
			}
			tok, err := BearerToken(r)
			if err != nil {
				failed()
				w.Header().Set("WWW-Authenticate", `Bearer realm="todo"`)
				web.Fail(w, r, http.StatusUnauthorized, "this endpoint needs an Authorization: Bearer <token> header")
				return
			}
			c, err := v.Verify(tok)
			if err != nil {
				failed()
				w.Header().Set("WWW-Authenticate", `Bearer realm="todo", error="invalid_token"`)
				web.Fail(w, r, http.StatusUnauthorized, err.Error())
				return
			}
			next.ServeHTTP(w, r.WithContext(WithUserID(r.Context(), c.UserID)))
		})
	}
}

// IssueHS256 signs a token for user with secret, valid for ttl: the
// development tokens of `make token`, and the tests'.
func IssueHS256(secret, user, issuer, audience string, ttl time.Duration) (string, error) {
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if audience == "" {
		audience = DefaultAudience
	}
	if err := CheckUserID(user); err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   user,
		Issuer:    issuer,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
