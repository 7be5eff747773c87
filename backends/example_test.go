package backends_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

// Values keep their kinds through the codec: 5 stays an int64 and 5.0 a
// float64.
func ExampleEncodeData() {
	v, _ := backends.Normalize(5) // int -> int64
	b, _ := backends.EncodeData(map[string]any{"n": v, "f": 5.0, "at": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)})
	fmt.Println(string(b))
	d, _ := backends.DecodeData(b)
	fmt.Printf("%T %T %T\n", d["n"], d["f"], d["at"])
	// Output:
	// {"at":{"$t":"2024-01-02T03:04:05Z"},"f":5.0,"n":5}
	// int64 float64 time.Time
}

// Two requests that change different keys of one session both survive.
func ExampleKVStore() {
	ctx := context.Background()
	kv, _ := kvcache.New(kvcache.DefaultConfig(), nil)
	defer kv.Close()
	c, _ := kv.Container("session")
	store := backends.NewKVStore(c)

	opt := backends.SaveOptions{Expires: time.Now().Add(30 * time.Minute)}
	// The first save creates the session: only a New save may.
	_, _ = store.Save(ctx, "sid", backends.Changes{Set: map[string]any{"user_id": int64(7)}}, backends.SaveOptions{Expires: opt.Expires, New: true})
	_, _ = store.Save(ctx, "sid", backends.Changes{Set: map[string]any{"cart": []any{"apple"}}}, opt)

	rec, _ := store.Load(ctx, "sid")
	fmt.Println(rec.Data["user_id"], rec.Data["cart"])
	// Output: 7 [apple]
}
