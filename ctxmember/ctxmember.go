// Package ctxmember is a per-request (or per-job) scope with lazily built,
// named members: the Go form of score.ctx.
//
// A Registry holds member definitions. Each request gets a Scope. A member is
// built on first Get only, at most once even when goroutines race for it, and
// when the scope ends the built members are closed in reverse build order,
// each told the outcome (nil on success, the error or recovered panic on
// failure). Plain values (such as "session_id") can be set on a scope too; a
// member may lock the values it reads, so that setting them after the member
// was built fails with ErrLocked instead of being silently ignored.
//
// The package depends on the standard library only.
package ctxmember

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

var (
	// ErrUnknownMember is returned by Get for a name no member was registered under.
	ErrUnknownMember = errors.New("ctxmember: unknown member")
	// ErrDuplicateMember is returned when two members share a name.
	ErrDuplicateMember = errors.New("ctxmember: duplicate member")
	// ErrLocked is returned by Set for a value that a built member has already read.
	ErrLocked = errors.New("ctxmember: value was already read by a built member")
	// ErrEnded is returned when a scope is used after End.
	ErrEnded = errors.New("ctxmember: scope has ended")
	// ErrNoScope is returned by helpers when the context carries no scope.
	ErrNoScope = errors.New("ctxmember: no scope in context (is the middleware installed?)")
	// ErrCycle is returned when a member's constructor asks for itself.
	ErrCycle = errors.New("ctxmember: member asked for itself while being built")
)

// Member defines a named, lazily built scope member.
type Member struct {
	// Name is the key the member is reached by. Required.
	Name string
	// Build constructs the member's value on first access. The scope is
	// passed so the member can read plain values (Scope.Value) or other
	// members.
	Build func(ctx context.Context, s *Scope) (any, error)
	// Close, if set, is called when the scope ends, with the value Build
	// returned and the scope's outcome: nil for success, else the error or
	// the recovered panic (as *PanicError).
	Close func(ctx context.Context, value any, outcome error) error
	// Locks names plain values this member reads while building. Once the
	// member is built, Set on any of them returns ErrLocked.
	Locks []string
}

// Registry holds member definitions. It is safe for concurrent use; members
// are normally all registered at start-up.
type Registry struct {
	mu      sync.RWMutex
	members map[string]Member
}

// NewRegistry returns a registry holding the given members.
func NewRegistry(members ...Member) (*Registry, error) {
	r := &Registry{members: map[string]Member{}}
	for _, m := range members {
		if err := r.Register(m); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds a member definition.
func (r *Registry) Register(m Member) error {
	if m.Name == "" {
		return errors.New("ctxmember: member has no name")
	}
	if m.Build == nil {
		return fmt.Errorf("ctxmember: member %q has no Build function", m.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members == nil {
		r.members = map[string]Member{}
	}
	if _, ok := r.members[m.Name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateMember, m.Name)
	}
	r.members[m.Name] = m
	return nil
}

// Names lists the registered member names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.members))
}

func (r *Registry) member(name string) (Member, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.members[name]
	return m, ok
}

// PanicError carries a recovered panic as a scope outcome.
type PanicError struct {
	Value any
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	if err, ok := p.Value.(error); ok {
		return err
	}
	return nil
}

type slot struct {
	name  string
	once  sync.Once
	value any
	err   error
	done  bool // set under Scope.mu after once completes
}

type namedValue struct {
	name  string
	value any
}

type lock struct {
	value, by string
}

// Scope is one request's or job's set of members and values. It allocates
// nothing beyond itself until a member is built or a value is set, so a
// request that uses no member costs almost nothing.
//
// The *Scope a member's Build receives is a view of the same scope that
// also knows which members its call path is building, so a member asking
// for itself (directly or through others) gets ErrCycle instead of a
// deadlock, while other goroutines asking for it wait for the build.
type Scope struct {
	*scopeState
	chain []string // members being built on this call path
}

type scopeState struct {
	reg   *Registry
	ctx   context.Context
	owner any

	mu     sync.Mutex
	slots  []*slot // in creation order
	built  []*slot // in build order
	values []namedValue
	locked []lock
	ended  bool

	// Room for a typical request's first members and values, so using
	// them allocates nothing beyond the scope itself.
	slotMem   [scopeInline]slot
	nslotMem  int
	slotsBuf  [scopeInline]*slot
	builtBuf  [scopeInline]*slot
	valuesBuf [scopeInline]namedValue
	lockedBuf [scopeInline]lock
}

// scopeInline is how many members, values and locks a scope holds before
// its lists allocate.
const scopeInline = 2

// scopeBlock is a scope and its state in one allocation.
type scopeBlock struct {
	sc Scope
	st scopeState
}

type scopeKey struct{}

// NewScope opens a scope. The returned context carries the scope, so that
// FromContext finds it.
func (r *Registry) NewScope(ctx context.Context) (*Scope, context.Context) {
	return r.NewScopeWith(ctx, nil)
}

// NewScopeWith opens a scope with an owner value (for example the component
// that opened it), available through Owner.
func (r *Registry) NewScopeWith(ctx context.Context, owner any) (*Scope, context.Context) {
	b := &scopeBlock{}
	st := &b.st
	st.reg, st.owner = r, owner
	st.slots, st.built = st.slotsBuf[:0], st.builtBuf[:0]
	st.values, st.locked = st.valuesBuf[:0], st.lockedBuf[:0]
	s := &b.sc
	s.scopeState = st
	ctx = context.WithValue(ctx, scopeKey{}, s)
	s.ctx = ctx
	return s, ctx
}

// FromContext returns the scope carried by ctx, or nil.
func FromContext(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// Context returns the scope's context.
func (s *Scope) Context() context.Context { return s.ctx }

// Owner returns the owner value given to NewScopeWith (nil otherwise).
func (s *Scope) Owner() any { return s.owner }

// Registry returns the registry the scope was opened from.
func (s *Scope) Registry() *Registry { return s.reg }

func (s *Scope) slotLocked(name string) *slot {
	for _, sl := range s.slots {
		if sl.name == name {
			return sl
		}
	}
	return nil
}

// Get returns the member named name, building it on first access. Concurrent
// first calls build it once; all callers get the same value or error. A
// failed build is not retried within the scope.
func (s *Scope) Get(name string) (any, error) {
	m, ok := s.reg.member(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMember, name)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: get %q", ErrEnded, name)
	}
	if slices.Contains(s.chain, name) {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %q (via %v)", ErrCycle, name, s.chain)
	}
	sl := s.slotLocked(name)
	if sl == nil {
		if s.nslotMem < len(s.slotMem) {
			sl = &s.slotMem[s.nslotMem]
			s.nslotMem++
			sl.name = name
		} else {
			sl = &slot{name: name}
		}
		s.slots = append(s.slots, sl)
	}
	s.mu.Unlock()

	sl.once.Do(func() {
		s.mu.Lock()
		// Lock the values before building: a Set racing with the build
		// must fail rather than be read or not read by chance.
		for _, v := range m.Locks {
			s.locked = append(s.locked, lock{value: v, by: name})
		}
		s.mu.Unlock()

		view := &Scope{scopeState: s.scopeState, chain: append(slices.Clip(s.chain), name)}
		v, err := safeBuild(s.ctx, m, view)

		s.mu.Lock()
		sl.value, sl.err, sl.done = v, err, true
		if err == nil {
			s.built = append(s.built, sl)
		}
		s.mu.Unlock()
	})
	return sl.value, sl.err
}

func safeBuild(ctx context.Context, m Member, s *Scope) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("ctxmember: building %q: %w", m.Name, &PanicError{Value: p})
		}
	}()
	return m.Build(ctx, s)
}

// Built reports whether the member has been built (successfully) in this scope.
func (s *Scope) Built(name string) bool {
	_, ok := s.Peek(name)
	return ok
}

// Peek returns the member's value if it has been built, without building it.
func (s *Scope) Peek(name string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slotLocked(name)
	if sl == nil || !sl.done || sl.err != nil {
		return nil, false
	}
	return sl.value, true
}

// Set stores a plain value. It fails with ErrLocked when a member that reads
// the value has already been built (or is being built).
func (s *Scope) Set(name string, value any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return fmt.Errorf("%w: set %q", ErrEnded, name)
	}
	for _, l := range s.locked {
		if l.value == name {
			return fmt.Errorf("%w: %q was read when %q was built", ErrLocked, name, l.by)
		}
	}
	for i := range s.values {
		if s.values[i].name == name {
			s.values[i].value = value
			return nil
		}
	}
	s.values = append(s.values, namedValue{name, value})
	return nil
}

// Value returns a plain value set with Set.
func (s *Scope) Value(name string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.values {
		if v.name == name {
			return v.value, true
		}
	}
	return nil, false
}

// End closes the built members in reverse build order, passing outcome to
// each, and returns their close errors joined. End is idempotent: only the
// first call closes.
func (s *Scope) End(outcome error) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	s.ended = true
	built := s.built
	s.mu.Unlock()

	var errs []error
	for i := len(built) - 1; i >= 0; i-- {
		m, _ := s.reg.member(built[i].name)
		if m.Close == nil {
			continue
		}
		if err := safeClose(s.ctx, m, built[i].value, outcome); err != nil {
			errs = append(errs, fmt.Errorf("ctxmember: closing %q: %w", built[i].name, err))
		}
	}
	return errors.Join(errs...)
}

func safeClose(ctx context.Context, m Member, v any, outcome error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p}
		}
	}()
	return m.Close(ctx, v, outcome)
}

// Run opens a scope, calls fn with the scope's context and ends the scope
// with fn's outcome: the returned error, or a panic (which is re-raised after
// the members were closed). It returns fn's error joined with close errors.
func (r *Registry) Run(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	s, ctx := r.NewScope(ctx)
	defer func() {
		if p := recover(); p != nil {
			_ = s.End(&PanicError{Value: p})
			panic(p)
		}
	}()
	ferr := fn(ctx)
	cerr := s.End(ferr)
	return errors.Join(ferr, cerr)
}
