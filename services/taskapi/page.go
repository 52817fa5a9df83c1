package taskapi

import (
	"fmt"
	"net/http"
	"net/url"

	webapp "github.com/todo-platform/todo/services/web"
)

// ValidateRealtimeURL checks REALTIME_URL: a ws:// or wss:// URL with a
// host, or "" (the web app then uses /ws on its own host, as behind the
// platform's Ingress).
func ValidateRealtimeURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("REALTIME_URL=%q: want the realtime socket's ws:// or wss:// URL, e.g. wss://todo.example.com/ws", s)
	}
	return nil
}

// siteOptions are the web app's options of the configuration.
func siteOptions(realtime, issuer, clientID string) webapp.Options {
	o := webapp.Options{RealtimeURL: realtime}
	if issuer != "" {
		o.OIDC = &webapp.OIDC{Issuer: issuer, ClientID: clientID}
	}
	return o
}

// newSite returns the web app's handler (services/web); a configuration
// it refuses (checked by ConfigFromEnv first) serves 500s.
func newSite(o webapp.Options) http.Handler {
	h, err := webapp.Handler(o)
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the web app is misconfigured", http.StatusInternalServerError)
		})
	}
	return h
}
