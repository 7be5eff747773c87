// Command sessionctl manages the sessions of a sessionfx app from a shell:
// it lists them, shows one, revokes one or all of a user's, deletes expired
// ones now and counts them. It reads the app's own config file and opens the
// store the app uses (through session.Module and stores.All), without an
// HTTP server and without the periodic cleanup.
//
//	sessionctl -config app.ini list -user alice
//	sessionctl -config app.ini -json show 5f0c4d1e9a7b3c2d8e6f1a0b4c7d9e2f
//	sessionctl -config app.ini revoke-user alice
//
// Sessions are named by their handle (session.SessionInfo.Handle), never by
// their id or its storage hash. Run sessionctl help for the commands, flags
// and exit codes.
//
// An app whose GORM model keeps session keys in columns of its own
// (gormstore.UseModel) builds its own sessionctl with that model, so that
// the columns (the user key among them) are read:
//
//	func main() {
//		os.Exit(ctl.Run(os.Args[1:], os.Stdout, os.Stderr, gormstore.UseModel[AppSession]()))
//	}
package main

import (
	"os"

	"github.com/sessionfx/session/app/sessionctl/ctl"
)

func main() {
	os.Exit(ctl.Run(os.Args[1:], os.Stdout, os.Stderr))
}
