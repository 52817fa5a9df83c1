package service

import (
	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/pkg/ratelimit"
)

// API is what every service with a public API reads for it: how it
// verifies its users' tokens and the request rate limits.
type API struct {
	JWT    auth.Config      // JWT_*: a key is required
	Limits ratelimit.Config // RATE_LIMIT_*
}

// APIFromEnv reads the API configuration, naming the variable of any bad
// value; without a token key it answers auth.ErrNotConfigured.
func APIFromEnv(getenv func(string) string) (API, error) {
	a := API{JWT: auth.ConfigFromEnv(getenv)}
	if a.JWT.Secret == "" && a.JWT.JWKSURL == "" {
		return a, auth.ErrNotConfigured
	}
	var err error
	a.Limits, err = ratelimit.ConfigFromEnv(getenv)
	return a, err
}
