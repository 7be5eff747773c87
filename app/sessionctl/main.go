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
// When the app's GORM model keeps the user key in a column of its own
// (gormstore.UseModel), sessionctl reads that column through a model it
// builds at run time. To read every typed column (their keys count in
// KEYS), an app builds its own sessionctl with its model:
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
