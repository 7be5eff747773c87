package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	session "github.com/sessionfx/session"
	"github.com/sessionfx/session/backends"
)

// call is one command's run.
type call struct {
	ctx  context.Context
	st   *store
	out  io.Writer
	json bool
	user string // list -user
	arg  string // the positional argument
}

// Session is a session as sessionctl prints it with -json. The field names
// are stable. There is no id and no storage hash: the handle names the
// session.
type Session struct {
	Handle    string     `json:"handle"`
	User      string     `json:"user"` // "" for an anonymous session
	Created   time.Time  `json:"created"`
	LastSeen  time.Time  `json:"last_seen"`
	Expires   *time.Time `json:"expires"`    // null: never
	UserAgent string     `json:"user_agent"` // "" when unknown
	IP        string     `json:"ip"`         // "" unless the app records it (record_ip)
	Keys      int        `json:"keys"`
}

func fromInfo(si session.SessionInfo) Session {
	s := Session{Handle: si.Handle, User: si.User, Created: si.Created.UTC(), LastSeen: si.LastSeen.UTC(),
		UserAgent: si.UserAgent, IP: si.IP, Keys: si.Keys}
	if !si.Expires.IsZero() {
		e := si.Expires.UTC()
		s.Expires = &e
	}
	return s
}

func (c *call) writeJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timeText is a time in a table: UTC, to the second.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func expiresText(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return timeText(*t)
}

// orDash is s made safe for a terminal, or "-" when empty.
func orDash(s string, max int) string {
	if s == "" {
		return "-"
	}
	return clean(s, max)
}

// collect gathers the live sessions (all, or user's), oldest first.
func (c *call) collect(user string) ([]Session, error) {
	var out []Session
	err := c.st.m.Sessions(c.ctx, user, func(si session.SessionInfo) error {
		out = append(out, fromInfo(si))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Handle < out[j].Handle
	})
	return out, nil
}

func (c *call) list() error {
	ss, err := c.collect(c.user)
	if err != nil {
		return err
	}
	if c.json {
		if ss == nil {
			ss = []Session{}
		}
		return c.writeJSON(ss)
	}
	if len(ss) > 0 {
		tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HANDLE\tUSER\tCREATED\tLAST SEEN\tEXPIRES\tKEYS\tIP\tUSER AGENT")
		for _, s := range ss {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Handle, orDash(s.User, 40),
				timeText(s.Created), timeText(s.LastSeen), expiresText(s.Expires), s.Keys,
				orDash(s.IP, 45), orDash(s.UserAgent, 60))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	who := ""
	if c.user != "" {
		who = " of " + clean(c.user, 40)
	}
	_, err = fmt.Fprintf(c.out, "%d %s%s\n", len(ss), plural(len(ss), "session"), who)
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func (c *call) show() error {
	si, err := c.st.m.SessionByHandle(c.ctx, c.arg)
	if err != nil {
		return err
	}
	s := fromInfo(si)
	if c.json {
		return c.writeJSON(s)
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	for _, row := range [][2]string{
		{"handle", s.Handle},
		{"user", orDash(s.User, 0)},
		{"created", timeText(s.Created)},
		{"last seen", timeText(s.LastSeen)},
		{"expires", expiresText(s.Expires)},
		{"keys", strconv.Itoa(s.Keys)},
		{"ip", orDash(s.IP, 0)},
		{"user agent", orDash(s.UserAgent, 0)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func (c *call) revoke() error {
	if err := c.st.m.RevokeHandle(c.ctx, c.arg); err != nil {
		return err
	}
	if c.json {
		return c.writeJSON(struct {
			Handle  string `json:"handle"`
			Revoked int    `json:"revoked"`
		}{c.arg, 1})
	}
	_, err := fmt.Fprintf(c.out, "revoked session %s\n", clean(c.arg, 0))
	return err
}

func (c *call) revokeUser() error {
	n, err := c.st.m.RevokeUser(c.ctx, c.arg)
	if err != nil {
		return err
	}
	if c.json {
		return c.writeJSON(struct {
			User    string `json:"user"`
			Revoked int    `json:"revoked"`
		}{c.arg, n})
	}
	_, err = fmt.Fprintf(c.out, "revoked %d %s of %s\n", n, plural(n, "session"), clean(c.arg, 0))
	return err
}

func (c *call) cleanup() error {
	info := backends.InfoOf(c.st.storage)
	n, err := c.st.m.Cleanup(c.ctx)
	if err != nil {
		return err
	}
	note := ""
	if info.ExpiresNatively {
		note = "the store removes expired sessions itself"
	}
	if c.json {
		return c.writeJSON(struct {
			Deleted int64  `json:"deleted"`
			Note    string `json:"note,omitempty"`
		}{n, note})
	}
	if note != "" {
		note = " (" + note + ")"
	}
	_, err = fmt.Fprintf(c.out, "deleted %d expired %s%s\n", n, plural(int(n), "session"), note)
	return err
}

// Stats is what stats prints with -json. The field names are stable.
type Stats struct {
	// Store names the store, its engine or driver and table: no URL or
	// DSN.
	Store        string `json:"store"`
	CrossProcess bool   `json:"cross_process"`
	// Sessions counts the live sessions; Anonymous those without a user.
	Sessions  int `json:"sessions"`
	Anonymous int `json:"anonymous"`
	// Users counts the distinct users; ByUser their sessions. Both are
	// null when the config sets no [session] user_key.
	Users  *int           `json:"users"`
	ByUser map[string]int `json:"by_user"`
	// MemoryEngine is null: a memory engine's counters belong to the app
	// process that holds it (see the app's metrics), and sessionctl
	// refuses a store in process memory.
	MemoryEngine *struct{} `json:"memory_engine"`
}

func (c *call) stats() error {
	info := backends.InfoOf(c.st.storage)
	st := Stats{Store: c.st.describe(), CrossProcess: info.CrossProcess}
	withUsers := c.st.m.Config().UserKey != ""
	by := map[string]int{}
	err := c.st.m.Sessions(c.ctx, "", func(si session.SessionInfo) error {
		st.Sessions++
		if si.User == "" {
			st.Anonymous++
		} else {
			by[si.User]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if withUsers {
		n := len(by)
		st.Users, st.ByUser = &n, by
	}
	if c.json {
		return c.writeJSON(st)
	}
	shared := "not shared across processes"
	if st.CrossProcess {
		shared = "shared across processes"
	}
	tw := tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "store\t%s (%s)\n", st.Store, shared)
	fmt.Fprintf(tw, "sessions\t%d\n", st.Sessions)
	fmt.Fprintf(tw, "anonymous\t%d\n", st.Anonymous)
	if st.Users != nil {
		fmt.Fprintf(tw, "users\t%d\n", *st.Users)
	} else {
		fmt.Fprintf(tw, "users\tn/a (the config sets no [session] user_key)\n")
	}
	fmt.Fprintf(tw, "memory engine\tn/a (its counters live in each app process: see the app's metrics)\n")
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.ByUser) == 0 {
		return nil
	}
	users := make([]string, 0, len(st.ByUser))
	for u := range st.ByUser {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool {
		if by[users[i]] != by[users[j]] {
			return by[users[i]] > by[users[j]]
		}
		return users[i] < users[j]
	})
	tw = tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nUSER\tSESSIONS")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%d\n", clean(u, 40), by[u])
	}
	return tw.Flush()
}
