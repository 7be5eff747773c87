// Package routers holds the recipes (and their tests) for putting the
// sessionfx middleware, session.HTTPMiddleware, in front of chi, echo, gin
// and gorilla/mux. It is a module of its own so that the session library's
// go.mod needs none of these routers.
//
// Only gin needs code of its own (Gin, in gin.go); the others take the
// middleware as it is.
package routers
