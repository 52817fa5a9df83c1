package local

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"

	"github.com/todo-platform/todo/pkg/routes"
	"github.com/todo-platform/todo/pkg/web"
)

// newFront is the local platform's one origin: it sends each request to the
// service that the platform's routing table (pkg/routes, which the Ingress
// is made from too) names for its path, WebSocket upgrades included.
// targets maps a service to its base URL; extra routes (the development
// OpenID provider) come before the table.
func newFront(targets map[string]string, extra map[string]http.Handler) (http.Handler, error) {
	proxies := map[string]*httputil.ReverseProxy{}
	for _, r := range routes.Public {
		if proxies[r.Service] != nil {
			continue
		}
		base, ok := targets[r.Service]
		if !ok {
			return nil, fmt.Errorf("front: no address for service %s", r.Service)
		}
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("front: %s: %w", r.Service, err)
		}
		name := r.Service
		proxies[r.Service] = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.SetXForwarded()
				// The services see the origin the browser used (realtime
				// checks a socket's Origin against it).
				pr.Out.Host = pr.In.Host
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				web.Fail(w, r, http.StatusBadGateway, "the "+name+" service does not answer: "+err.Error())
			},
		}
	}
	table := routes.NewTable(routes.Public)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "" || path.Clean(p) != p && path.Clean(p)+"/" != p {
			web.Fail(w, r, http.StatusBadRequest, "the path is not clean: "+p)
			return
		}
		for prefix, h := range extra {
			if (routes.Route{Path: prefix, Match: routes.Prefix}).Matches(p) {
				h.ServeHTTP(w, r)
				return
			}
		}
		rt, ok := table.Lookup(p)
		if !ok {
			web.Fail(w, r, http.StatusNotFound, "no service answers "+p+" on this origin")
			return
		}
		proxies[rt.Service].ServeHTTP(w, r)
	}), nil
}
