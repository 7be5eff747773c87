package gormstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

// Account is the app's user table.
type Account struct {
	ID   uint
	Name string
}

// WebSession is the app's session model: user_id is a real, indexed
// column with a foreign key to accounts; every other key goes to JSON.
type WebSession struct {
	gormstore.Row
	UserID  *uint    `session:"user_id" gorm:"index"`
	Account *Account `gorm:"foreignKey:UserID"`
}

func Example() {
	dir, _ := os.MkdirTemp("", "gormstore")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := gormstore.Open(gormstore.Config{Driver: "sqlite", DSN: filepath.Join(dir, "app.sqlite3")}, nil)
	if err != nil {
		panic(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	_ = db.AutoMigrate(&Account{}) // the app's own tables first
	ann := Account{Name: "ann"}
	db.Create(&ann)

	store, err := gormstore.New(db, gormstore.WithModel(&WebSession{}), gormstore.WithTable("sessions"))
	if err != nil {
		panic(err)
	}
	if err := store.Setup(ctx); err != nil { // CREATE TABLE sessions (...)
		panic(err)
	}

	// Two browsers of ann, one anonymous visitor.
	for _, id := range []string{"laptop", "phone"} {
		_, _ = store.Save(ctx, id, backends.Changes{Set: map[string]any{"user_id": int64(ann.ID), "theme": "dark"}}, backends.SaveOptions{New: true})
	}
	_, _ = store.Save(ctx, "visitor", backends.Changes{Set: map[string]any{"visits": int64(1)}}, backends.SaveOptions{New: true})

	rec, _ := store.Load(ctx, "phone")
	fmt.Println("phone:", rec.Data["user_id"], rec.Data["theme"])

	mine, _ := store.FindWhere(ctx, "user_id = ?", ann.ID)
	fmt.Println("ann's sessions:", len(mine))

	n, _ := store.DeleteWhere(ctx, "user_id = ?", ann.ID) // log out everywhere
	fmt.Println("logged out:", n)

	rec, _ = store.Load(ctx, "visitor")
	fmt.Println("visitor:", rec.Data["visits"], rec.Data["user_id"])
	// Output:
	// phone: 1 dark
	// ann's sessions: 2
	// logged out: 2
	// visitor: 1 <nil>
}
