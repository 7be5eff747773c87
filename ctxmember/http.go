package ctxmember

import (
	"net/http"
)

// Middleware opens a scope for each request and ends it after the handler
// returns. A panic in the handler ends the scope with a *PanicError outcome
// and is then re-raised, so net/http (or an outer recoverer) still sees it.
// Errors from closing members are passed to onCloseError when it is not nil.
func (r *Registry) Middleware(onCloseError func(*http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			s, ctx := r.NewScope(req.Context())
			req = req.WithContext(ctx)
			defer func() {
				if p := recover(); p != nil {
					if err := s.End(&PanicError{Value: p}); err != nil && onCloseError != nil {
						onCloseError(req, err)
					}
					panic(p)
				}
			}()
			next.ServeHTTP(w, req)
			if err := s.End(nil); err != nil && onCloseError != nil {
				onCloseError(req, err)
			}
		})
	}
}
