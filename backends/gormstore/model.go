package gormstore

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// ErrColumnValue is returned by Save when a value set for a typed column key
// does not fit the column's Go type (for example a string for a *uint field).
var ErrColumnValue = errors.New("session value does not fit its column")

// ErrModel is returned by New when the model is not usable as a session
// model (it does not embed Row, or a session tag is wrong).
var ErrModel = errors.New("invalid session model")

// Row is the mixin a GORM session model embeds (the Go form of score's
// DbSessionMixin). Keys without a column of their own are stored as JSON in
// Data; Version guards concurrent saves (compare-and-set).
//
//	type AppSession struct {
//		gormstore.Row
//		UserID *uint `session:"user_id" gorm:"index"`
//		User   *User
//	}
//
// Fields tagged `session:"key"` hold that session key in a real column. Use
// pointer fields: deleting the key stores NULL.
type Row struct {
	ID uint `gorm:"primaryKey;autoIncrement"`
	// SessionID is the storage id (the manager may store a hash of the
	// client's id here).
	SessionID string `gorm:"column:session_id;size:64;not null;uniqueIndex"`
	// Data holds the keys without a column of their own, JSON encoded.
	Data      string     `gorm:"column:data;not null"`
	Version   int64      `gorm:"column:version;not null"`
	CreatedAt time.Time  `gorm:"column:created_at;not null"`
	UpdatedAt time.Time  `gorm:"column:updated_at;not null;index"`
	ExpiresAt *time.Time `gorm:"column:expires_at;index"` // NULL: never
	// UserAgent and ClientIP are what the manager recorded about the
	// client that created the session (backends.Meta), for the "your
	// sessions" list; ClientIP only when the app records IPs.
	UserAgent string `gorm:"column:user_agent;size:256;not null;default:''"`
	ClientIP  string `gorm:"column:client_ip;size:64;not null;default:''"`
}

// Session is the default model: the mixin and nothing else.
type Session struct {
	Row
}

// ModelType names the Go type of a session model. The zero value means the
// default model, Session.
type ModelType struct{ typ reflect.Type }

// Model returns the ModelType of T, a struct that embeds Row. An fx app
// supplies it (for example through session.WithModel[AppSession]()) so the
// gorm store keeps sessions in the app's own model.
func Model[T any]() ModelType {
	return ModelType{typ: reflect.TypeFor[T]()}
}

// ModelOf returns the ModelType of a model value: a struct or a pointer to
// one (for example &AppSession{}).
func ModelOf(model any) ModelType {
	if m, ok := model.(ModelType); ok {
		return m
	}
	t := reflect.TypeOf(model)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return ModelType{typ: t}
}

// IsZero reports whether m names no model (the default is used).
func (m ModelType) IsZero() bool { return m.typ == nil }

// String returns the model's type name.
func (m ModelType) String() string {
	if m.typ == nil {
		return "gormstore.Session"
	}
	return m.typ.String()
}

// column is a session key kept in a typed column.
type column struct {
	key  string       // session key
	name string       // database column name
	typ  reflect.Type // Go field type, pointers removed
}

// model is a parsed session model.
type model struct {
	typ     reflect.Type
	columns []column           // sorted by key
	byKey   map[string]*column // session key -> column
}

// mixinColumns are the columns Row provides, in the order Load selects them.
var mixinColumns = []string{"id", "session_id", "data", "version", "created_at", "updated_at", "expires_at", "user_agent", "client_ip"}

var scannerType = reflect.TypeFor[sql.Scanner]()

func parseModel(db *gorm.DB, mt ModelType, table string) (*model, error) {
	t := mt.typ
	if t == nil {
		t = reflect.TypeFor[Session]()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %s is a %s; want a struct that embeds gormstore.Row", ErrModel, t, t.Kind())
	}
	sch, err := schema.ParseWithSpecialTableName(reflect.New(t).Interface(), &sync.Map{}, db.NamingStrategy, table)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %v", ErrModel, t, err)
	}
	for _, c := range mixinColumns {
		if sch.LookUpField(c) == nil {
			return nil, fmt.Errorf("%w: %s has no column %q; want a struct that embeds gormstore.Row", ErrModel, t, c)
		}
	}
	m := &model{typ: t, byKey: map[string]*column{}}
	if err := m.collect(t, sch); err != nil {
		return nil, err
	}
	sort.Slice(m.columns, func(i, j int) bool { return m.columns[i].key < m.columns[j].key })
	for i := range m.columns {
		m.byKey[m.columns[i].key] = &m.columns[i]
	}
	return m, nil
}

// collect finds the fields tagged `session:"key"` in t and the structs it
// embeds.
func (m *model) collect(t reflect.Type, sch *schema.Schema) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, tagged := f.Tag.Lookup("session")
		if !tagged || key == "-" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Row]() {
				if err := m.collect(ft, sch); err != nil {
					return err
				}
			}
			continue
		}
		if key == "" {
			return fmt.Errorf("%w: %s.%s has an empty session tag; want `session:\"key\"`", ErrModel, m.typ, f.Name)
		}
		field := sch.LookUpField(f.Name)
		if field == nil || field.DBName == "" {
			return fmt.Errorf("%w: %s.%s (session key %q) is not a database column (gorm:\"-\"?)", ErrModel, m.typ, f.Name, key)
		}
		for _, c := range mixinColumns {
			if field.DBName == c {
				return fmt.Errorf("%w: %s.%s (session key %q) uses column %q, which belongs to gormstore.Row", ErrModel, m.typ, f.Name, key, c)
			}
		}
		for _, c := range m.columns {
			if c.key == key {
				return fmt.Errorf("%w: %s has two fields for session key %q", ErrModel, m.typ, key)
			}
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if !supportedColumnType(ft) {
			return fmt.Errorf("%w: %s.%s (session key %q) has type %s; want a bool, number, string, []byte, time.Time or sql.Scanner type", ErrModel, m.typ, f.Name, key, f.Type)
		}
		m.columns = append(m.columns, column{key: key, name: field.DBName, typ: ft})
	}
	return nil
}

func supportedColumnType(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(scannerType) || t == reflect.TypeFor[time.Time]() {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	}
	return false
}

// toDB converts a canonical session value to the column's Go type. nil is
// NULL.
func (c *column) toDB(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: session key %q is stored in column %q of type %s; a %T value (%v) does not fit%s",
			ErrColumnValue, c.key, c.name, c.typ, v, v, why)
	}
	out := reflect.New(c.typ).Elem()
	if c.typ == reflect.TypeFor[time.Time]() {
		tv, ok := v.(time.Time)
		if !ok {
			return nil, bad("")
		}
		return tv.UTC(), nil
	}
	if reflect.PointerTo(c.typ).Implements(scannerType) {
		if err := out.Addr().Interface().(sql.Scanner).Scan(v); err != nil {
			return nil, bad(": " + err.Error())
		}
		return out.Interface(), nil
	}
	switch c.typ.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := asInt(v)
		if !ok {
			return nil, bad("")
		}
		if out.OverflowInt(n) {
			return nil, bad(": out of range")
		}
		out.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := asInt(v)
		if !ok {
			return nil, bad("")
		}
		if n < 0 || out.OverflowUint(uint64(n)) {
			return nil, bad(": out of range")
		}
		out.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		switch x := v.(type) {
		case float64:
			out.SetFloat(x)
		case int64:
			out.SetFloat(float64(x))
		default:
			return nil, bad("")
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return nil, bad("")
		}
		out.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, bad("")
		}
		out.SetBool(b)
	case reflect.Slice:
		switch x := v.(type) {
		case []byte:
			out.SetBytes(bytes.Clone(x))
		case string:
			out.SetBytes([]byte(x))
		default:
			return nil, bad("")
		}
	default:
		return nil, bad("")
	}
	return out.Interface(), nil
}

// asInt accepts int64 and integral float64 values.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// scanDest returns a destination that scans the column, NULL included
// (a **T).
func (c *column) scanDest() any {
	return reflect.New(reflect.PointerTo(c.typ)).Interface()
}

// fromScan converts a scanned destination (from scanDest) to a canonical
// session value.
func (c *column) fromScan(dest any) (any, error) {
	p := reflect.ValueOf(dest).Elem()
	if p.IsNil() {
		return nil, nil
	}
	v, err := canonical(p.Elem().Interface())
	if err != nil {
		return nil, fmt.Errorf("column %q (session key %q): %w", c.name, c.key, err)
	}
	return v, nil
}

// canonical converts a column's Go value to the codec's canonical kinds:
// nil, bool, int64, float64, string, []byte, time.Time.
func canonical(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UTC(), nil
	case []byte:
		return bytes.Clone(x), nil
	case driver.Valuer:
		dv, err := x.Value()
		if err != nil {
			return nil, err
		}
		if _, again := dv.(driver.Valuer); again {
			return nil, fmt.Errorf("value %T returns another driver.Valuer", v)
		}
		return canonical(dv)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("value %d does not fit an int64", u)
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Clone(rv.Bytes()), nil
		}
	}
	return nil, fmt.Errorf("unsupported column value of type %T", v)
}
