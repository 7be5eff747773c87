package gormstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

// usersTable is User's table; each test sets its own (gorm caches schemas
// per *gorm.DB, and every test opens its own).
var usersTable = "users"

type User struct {
	ID   uint
	Name string `gorm:"size:64"`
}

func (User) TableName() string { return usersTable }

// AppSession is a user's session model: user_id and plan are real columns.
type AppSession struct {
	gormstore.Row
	UserID *uint   `session:"user_id" gorm:"index"`
	User   *User   `gorm:"constraint:OnDelete:CASCADE"`
	Plan   *string `session:"plan" gorm:"size:32"`
}

// appStore returns a store with the AppSession model on c, its users table
// created first, and two users.
func appStore(t *testing.T, c dbCase) (*gormstore.Store, *gorm.DB, []User) {
	t.Helper()
	db, cfg := c.openDB(t)
	usersTable = randomName("users")
	if err := db.AutoMigrate(&User{}); err != nil {
		t.Fatalf("migrating users: %v", err)
	}
	users := []User{{Name: "ann"}, {Name: "bob"}}
	if err := db.Create(&users).Error; err != nil {
		t.Fatalf("creating users: %v", err)
	}
	// Registered after newStore's cleanup would be too late: the session
	// table references users, so drop users last.
	table := usersTable
	t.Cleanup(func() {
		if err := db.Migrator().DropTable(table); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	s := newStore(t, db, cfg.Table, gormstore.WithModel(&AppSession{}))
	return s, db, users
}

// LevelSession has an integer column without a foreign key.
type LevelSession struct {
	gormstore.Row
	Level *int `session:"level"`
}

func mustSave(t *testing.T, s *gormstore.Store, id string, ch backends.Changes, opt backends.SaveOptions) *backends.Record {
	t.Helper()
	rec, err := s.Save(t.Context(), id, ch, opt)
	if err != nil {
		t.Fatalf("Save(%s): %v", id, err)
	}
	return rec
}

func mustLoad(t *testing.T, s *gormstore.Store, id string) *backends.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	return rec
}

func TestTypedColumns(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s, db, users := appStore(t, c)
		ctx := t.Context()
		ann := int64(users[0].ID)

		rec := mustSave(t, s, "s1", backends.Changes{Set: map[string]any{"user_id": ann, "parrot": "ceased to be", "n": int64(5)}}, backends.SaveOptions{New: true})
		if rec.Data["user_id"] != ann {
			t.Errorf("Save returned user_id = %#v; want %d", rec.Data["user_id"], ann)
		}

		// The key lives in the column, not in the JSON.
		var raw struct {
			UserID *int64
			Data   string
		}
		if err := db.Table(s.Table()).Select("user_id, data").Where("session_id = ?", "s1").Take(&raw).Error; err != nil {
			t.Fatal(err)
		}
		if raw.UserID == nil || *raw.UserID != ann {
			t.Errorf("column user_id = %v; want %d", raw.UserID, ann)
		}
		if strings.Contains(raw.Data, "user_id") || !strings.Contains(raw.Data, "parrot") {
			t.Errorf("data column = %s; want parrot in JSON and user_id not", raw.Data)
		}

		got := mustLoad(t, s, "s1")
		if got.Data["user_id"] != ann || got.Data["parrot"] != "ceased to be" || got.Data["n"] != int64(5) {
			t.Errorf("Load data = %#v", got.Data)
		}
		if v, ok := got.Data["plan"]; !ok || v != nil {
			t.Errorf("unset column key plan = %#v, present %v; want present and nil", v, ok)
		}

		// The row is an ordinary entity: preload its user.
		var row AppSession
		if err := db.Table(s.Table()).Preload("User").Where("session_id = ?", "s1").Take(&row).Error; err != nil {
			t.Fatalf("preloading User: %v", err)
		}
		if row.User == nil || row.User.Name != "ann" {
			t.Errorf("preloaded User = %+v; want ann", row.User)
		}

		// Deleting a column key stores NULL; the key stays with value nil.
		mustSave(t, s, "s1", backends.Changes{Delete: []string{"user_id"}, Set: map[string]any{"plan": "gold"}}, backends.SaveOptions{})
		got = mustLoad(t, s, "s1")
		if v, ok := got.Data["user_id"]; !ok || v != nil {
			t.Errorf("after delete user_id = %#v (present %v); want nil", v, ok)
		}
		if got.Data["plan"] != "gold" || got.Data["parrot"] != "ceased to be" {
			t.Errorf("after delete data = %#v", got.Data)
		}
		raw.UserID = nil
		if err := db.Table(s.Table()).Select("user_id, data").Where("session_id = ?", "s1").Take(&raw).Error; err != nil {
			t.Fatal(err)
		}
		if raw.UserID != nil {
			t.Errorf("column user_id = %d after delete; want NULL", *raw.UserID)
		}

		// Values that do not fit the column are refused before writing.
		for _, v := range []any{"fourteen", int64(-1), 1.5, true} {
			_, err := s.Save(ctx, "s1", backends.Changes{Set: map[string]any{"user_id": v}}, backends.SaveOptions{})
			if !errors.Is(err, gormstore.ErrColumnValue) {
				t.Errorf("Save user_id = %#v: err = %v; want ErrColumnValue", v, err)
			} else if !strings.Contains(err.Error(), "user_id") {
				t.Errorf("error %q does not name the key", err)
			}
		}
		// The foreign key holds.
		if _, err := s.Save(ctx, "s1", backends.Changes{Set: map[string]any{"user_id": int64(987654)}}, backends.SaveOptions{}); err == nil {
			t.Error("Save with user_id of no user succeeded; want a foreign key error")
		}
		if got := mustLoad(t, s, "s1"); got.Data["plan"] != "gold" || got.Data["user_id"] != nil {
			t.Errorf("failed saves changed the session: %#v", got.Data)
		}

		// Clear empties the columns too.
		mustSave(t, s, "s1", backends.Changes{Clear: true, Set: map[string]any{"a": "b"}}, backends.SaveOptions{})
		got = mustLoad(t, s, "s1")
		if len(got.Data) != 3 || got.Data["a"] != "b" || got.Data["plan"] != nil || got.Data["user_id"] != nil {
			t.Errorf("after clear data = %#v; want a=b, user_id=nil, plan=nil", got.Data)
		}
	})
}

func TestFindAndDeleteWhere(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s, _, users := appStore(t, c)
		ctx := t.Context()
		ann, bob := int64(users[0].ID), int64(users[1].ID)
		for i := range 3 {
			mustSave(t, s, fmt.Sprintf("ann-%d", i), backends.Changes{Set: map[string]any{"user_id": ann, "i": int64(i)}}, backends.SaveOptions{New: true})
		}
		mustSave(t, s, "ann-expired", backends.Changes{Set: map[string]any{"user_id": ann}}, backends.SaveOptions{Expires: time.Now().Add(-time.Minute), New: true})
		mustSave(t, s, "bob-0", backends.Changes{Set: map[string]any{"user_id": bob}}, backends.SaveOptions{New: true})
		mustSave(t, s, "anon", backends.Changes{Set: map[string]any{"x": "y"}}, backends.SaveOptions{New: true})

		recs, err := s.FindWhere(ctx, "user_id = ?", ann)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, ",") != "ann-0,ann-1,ann-2" {
			t.Errorf("FindWhere(user_id = ann) = %v; want ann-0..2 (not the expired one)", ids)
		}
		if recs[1].Data["i"] != int64(1) {
			t.Errorf("FindWhere record data = %#v", recs[1].Data)
		}

		n, err := s.DeleteWhere(ctx, "user_id = ?", ann)
		if err != nil || n != 4 {
			t.Errorf("DeleteWhere(user_id = ann) = %d, %v; want 4 rows", n, err)
		}
		for _, id := range []string{"ann-0", "ann-1", "ann-2"} {
			if ok, err := s.Exists(ctx, id); ok || err != nil {
				t.Errorf("Exists(%s) after log-out-everywhere = %v, %v", id, ok, err)
			}
		}
		mustLoad(t, s, "bob-0")
		mustLoad(t, s, "anon")

		if _, err := s.DeleteWhere(ctx, ""); err == nil {
			t.Error("DeleteWhere with an empty condition succeeded; want an error")
		}
		if _, err := s.FindWhere(ctx, nil); err == nil {
			t.Error("FindWhere with a nil condition succeeded; want an error")
		}
	})
}

func TestCorruptRows(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s, db, _ := appStore(t, c)
		ctx := t.Context()
		mustSave(t, s, "bad", backends.Changes{Set: map[string]any{"a": "b"}}, backends.SaveOptions{New: true})
		mustSave(t, s, "good", backends.Changes{Set: map[string]any{"a": "b"}}, backends.SaveOptions{New: true})
		for _, junk := range []string{`{"a": `, `[1,2]`, `"str"`, "not json", `{"t": {"$t": "yesterday"}}`} {
			if err := db.Table(s.Table()).Where("session_id = ?", "bad").Update("data", junk).Error; err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx, "bad")
			if !errors.Is(err, backends.ErrCorrupt) {
				t.Errorf("Load with data %q: err = %v; want ErrCorrupt", junk, err)
			}
		}
		var seen []string
		if err := s.Iterate(ctx, func(r backends.Record) error { seen = append(seen, r.ID); return nil }); err != nil {
			t.Fatalf("Iterate with a corrupt row: %v", err)
		}
		if strings.Join(seen, ",") != "good" {
			t.Errorf("Iterate saw %v; want only the good row", seen)
		}
		if c.driver == "sqlite" {
			// SQLite stores whatever it is given: columns that do not fit
			// the model.
			ls := newStore(t, db, randomName("levels"), gormstore.WithModel(&LevelSession{}))
			mustSave(t, ls, "bad", backends.Changes{Set: map[string]any{"level": int64(3)}}, backends.SaveOptions{New: true})
			for _, set := range []string{"level = 'three'", "level = NULL, created_at = 'yesterday'"} {
				if err := db.Exec(fmt.Sprintf(`UPDATE %s SET %s WHERE session_id = 'bad'`, ls.Table(), set)).Error; err != nil {
					t.Fatal(err)
				}
				if _, err := ls.Load(ctx, "bad"); !errors.Is(err, backends.ErrCorrupt) {
					t.Errorf("Load after SET %s: err = %v; want ErrCorrupt", set, err)
				}
			}
		}
		// The manager deletes a corrupt session and starts afresh.
		if err := s.Delete(ctx, "bad"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, "bad"); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Load after delete: %v; want ErrNotFound", err)
		}
	})
}

func TestIteratePages(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s := storeOn(t, c, gormstore.WithPageSize(7))
		ctx := t.Context()
		const n = 25 // more than three pages
		for i := range n {
			mustSave(t, s, fmt.Sprintf("s%02d", i), backends.Changes{Set: map[string]any{"i": int64(i)}}, backends.SaveOptions{New: true})
		}
		mustSave(t, s, "expired", backends.Changes{Set: map[string]any{"i": int64(-1)}}, backends.SaveOptions{Expires: time.Now().Add(-time.Second), New: true})
		seen := map[string]bool{}
		err := s.Iterate(ctx, func(r backends.Record) error {
			if seen[r.ID] {
				t.Errorf("Iterate returned %s twice", r.ID)
			}
			seen[r.ID] = true
			if want := fmt.Sprintf("s%02d", r.Data["i"]); want != r.ID {
				t.Errorf("record %s has i = %v", r.ID, r.Data["i"])
			}
			return nil
		})
		if err != nil || len(seen) != n || seen["expired"] {
			t.Errorf("Iterate = %v, saw %d sessions (expired: %v); want %d live ones", err, len(seen), seen["expired"], n)
		}
		stop := errors.New("stop")
		count := 0
		err = s.Iterate(ctx, func(backends.Record) error { count++; return stop })
		if !errors.Is(err, stop) || count != 1 {
			t.Errorf("Iterate with fn error = %v after %d calls; want stop after 1", err, count)
		}
	})
}

func TestDeleteOlderThan(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s := storeOn(t, c, gormstore.WithBatchSize(3))
		ctx := t.Context()
		for i := range 10 {
			mustSave(t, s, fmt.Sprintf("s%d", i), backends.Changes{Set: map[string]any{"i": int64(i)}}, backends.SaveOptions{New: true})
		}
		mustSave(t, s, "expired", backends.Changes{Set: map[string]any{"i": int64(-1)}}, backends.SaveOptions{Expires: time.Now().Add(-time.Second), New: true})
		// Seven sessions were last saved two hours ago.
		old := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
		res := s.Query(ctx).Where("session_id IN ?", []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}).Update("updated_at", old)
		if res.Error != nil || res.RowsAffected != 7 {
			t.Fatalf("aging rows: %v, %d rows", res.Error, res.RowsAffected)
		}
		n, err := s.DeleteOlderThan(ctx, time.Hour)
		if err != nil || n != 8 {
			t.Errorf("DeleteOlderThan(1h) = %d, %v; want 8 (7 old + 1 expired, in batches of 3)", n, err)
		}
		for i := range 10 {
			ok, err := s.Exists(ctx, fmt.Sprintf("s%d", i))
			if err != nil || ok != (i >= 7) {
				t.Errorf("Exists(s%d) = %v, %v; want %v", i, ok, err, i >= 7)
			}
		}
		var rows int64
		s.Query(ctx).Count(&rows)
		if rows != 3 {
			t.Errorf("table holds %d rows; want 3", rows)
		}
	})
}

func TestExpiredSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s, _, users := appStore(t, c)
		ctx := t.Context()
		created := time.Now().Add(-time.Hour)
		mustSave(t, s, "e", backends.Changes{Set: map[string]any{"a": "b", "user_id": int64(users[0].ID)}},
			backends.SaveOptions{Expires: time.Now().Add(-time.Millisecond), Created: created, New: true})
		if _, err := s.Load(ctx, "e"); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Load(expired) = %v; want ErrNotFound", err)
		}
		if ok, err := s.Exists(ctx, "e"); ok || err != nil {
			t.Errorf("Exists(expired) = %v, %v; want false", ok, err)
		}
		if err := s.Touch(ctx, "e", time.Now().Add(time.Hour)); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Touch(expired) = %v; want ErrNotFound", err)
		}
		// An expired session stays ended: a save that is not New (a request
		// that loaded it before it expired) writes nothing...
		if _, err := s.Save(ctx, "e", backends.Changes{Set: map[string]any{"c": "d"}}, backends.SaveOptions{Expires: time.Now().Add(time.Hour)}); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Save (not New) onto an expired row: %v; want ErrNotFound", err)
		}
		if _, err := s.Load(ctx, "e"); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Load after a refused save onto an expired row = %v; want ErrNotFound", err)
		}
		// ...while a New save (an id generated for a new session) starts
		// a fresh one on the row.
		rec := mustSave(t, s, "e", backends.Changes{Set: map[string]any{"c": "d"}}, backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true})
		if len(rec.Data) != 3 || rec.Data["c"] != "d" || rec.Data["user_id"] != nil {
			t.Errorf("Save onto expired row = %#v; want only c (and nil columns)", rec.Data)
		}
		got := mustLoad(t, s, "e")
		if got.Data["a"] != nil || got.Data["user_id"] != nil || got.Created.Before(time.Now().Add(-time.Minute)) {
			t.Errorf("Load after save onto expired row = %#v, created %v; want a fresh session", got.Data, got.Created)
		}
		// Touch on a live session moves only the expiry.
		exp := time.Now().Add(2 * time.Hour)
		if err := s.Touch(ctx, "e", exp); err != nil {
			t.Fatal(err)
		}
		if got := mustLoad(t, s, "e"); !got.Expires.Equal(exp.UTC().Truncate(time.Millisecond)) || got.Data["c"] != "d" {
			t.Errorf("after Touch: expires %v, data %#v; want %v", got.Expires, got.Data, exp)
		}
	})
}

// TestConcurrentMergeColumns: 50 concurrent saves of different keys, JSON
// and column alike, all survive.
func TestConcurrentMergeColumns(t *testing.T) {
	forEachDB(t, func(t *testing.T, c dbCase) {
		s, _, users := appStore(t, c)
		ctx := t.Context()
		mustSave(t, s, "m", backends.Changes{Set: map[string]any{"start": true}}, backends.SaveOptions{New: true})
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				set := map[string]any{fmt.Sprintf("k%02d", i): int64(i)}
				switch i {
				case 10:
					set["user_id"] = int64(users[1].ID)
				case 20:
					set["plan"] = "gold"
				}
				if _, err := s.Save(ctx, "m", backends.Changes{Set: set}, backends.SaveOptions{}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Save: %v", err)
		}
		got := mustLoad(t, s, "m")
		for i := range 50 {
			if k := fmt.Sprintf("k%02d", i); got.Data[k] != int64(i) {
				t.Errorf("key %s = %#v after concurrent saves; want %d", k, got.Data[k], i)
			}
		}
		if got.Data["user_id"] != int64(users[1].ID) || got.Data["plan"] != "gold" || got.Data["start"] != true {
			t.Errorf("columns after concurrent saves: user_id %#v, plan %#v, start %#v", got.Data["user_id"], got.Data["plan"], got.Data["start"])
		}
	})
}
