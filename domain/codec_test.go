package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Test-only event types. Their names occur nowhere else, and each test
// removes what it registered, so the global registry is left as init made
// it for every other test (also with -count > 1).

type codecTestV1 struct {
	Amount string `json:"amount"`
}

func (codecTestV1) EventType() string { return "CodecTestEvolving" }

// codecTestV3 is the shape at schema 3: v1's amount became "total", v2
// added a currency, v3 a note.
type codecTestV3 struct {
	Total    string `json:"total"`
	Currency string `json:"currency"`
	Note     string `json:"note"`
}

func (codecTestV3) EventType() string { return "CodecTestEvolving" }

type codecTestPlain struct {
	N int `json:"n"`
}

func (codecTestPlain) EventType() string { return "CodecTestPlain" }

type codecTestUnnamed struct{}

func (codecTestUnnamed) EventType() string { return "" }

// registerForTest registers T and removes its name from the registry when
// the test ends.
func registerForTest[T Payload](t *testing.T) string {
	t.Helper()
	var z T
	name := z.EventType()
	_, existed := registry[name]
	require.False(t, existed, "test event type %s already registered", name)
	RegisterEvent[T]()
	t.Cleanup(func() { delete(registry, name) })
	return name
}

func bodyOf(t *testing.T, p Payload) []byte {
	t.Helper()
	b, err := EncodeBody(Event{Type: p.EventType(), Data: p})
	require.NoError(t, err)
	return b
}

// requireDecodeError checks that err is a *DecodeError for typ at schema,
// whose message mentions want.
func requireDecodeError(t *testing.T, err error, typ string, schema int, want string) {
	t.Helper()
	var de *DecodeError
	require.True(t, errors.As(err, &de), "error %T %v is not a *DecodeError", err, err)
	require.Equal(t, typ, de.Type)
	require.Equal(t, schema, de.Schema)
	require.Contains(t, de.Error(), want)
}

func TestDecodeBodyErrors(t *testing.T) {
	plain := registerForTest[codecTestPlain](t)
	good := bodyOf(t, codecTestPlain{N: 7})

	e, err := DecodeBody(uuid.Nil, plain, 1, good)
	require.NoError(t, err, "the well-formed body the cases below break")
	require.Equal(t, codecTestPlain{N: 7}, e.Data)

	cases := []struct {
		name   string
		typ    string
		schema int
		raw    string
		want   string // in the error message
	}{
		{"unknown type", "CodecTestNoSuchEvent", 1, string(good), "unknown event type"},
		{"empty type", "", 1, string(good), "unknown event type"},
		{"schema zero", plain, 0, string(good), "unsupported schema version (current 1)"},
		{"negative schema", plain, -1, string(good), "unsupported schema version (current 1)"},
		{"schema from the future", plain, 2, string(good), "unsupported schema version (current 1)"},
		{"body not JSON", plain, 1, `{"data":`, "unexpected end of JSON input"},
		{"body empty", plain, 1, ``, "unexpected end of JSON input"},
		{"body an array", plain, 1, `[]`, "cannot unmarshal array"},
		{"body without data", plain, 1, `{"occurred_at":"2026-01-02T03:04:05Z"}`, "no data"},
		{"data of the wrong shape", plain, 1, `{"data":{"n":"seven"}}`, "cannot unmarshal string"},
		{"data not JSON", plain, 1, `{"data":{"n":7}`, "unexpected end of JSON input"},
		{"bad occurred_at", plain, 1, `{"occurred_at":"yesterday","data":{"n":7}}`, "cannot parse"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeBody(uuid.New(), c.typ, c.schema, []byte(c.raw))
			requireDecodeError(t, err, c.typ, c.schema, c.want)
		})
	}
}

func TestDecodeBodyUpcasting(t *testing.T) {
	name := registerForTest[codecTestV1](t)
	v1 := bodyOf(t, codecTestV1{Amount: "12.50"})

	// The type evolves twice. Only the upcaster 2->3 is registered at
	// first: a v1 body then has no way to the current shape.
	RegisterEvent[codecTestV3]()
	upcasts := 0
	RegisterUpcaster(name, 2, func(in json.RawMessage) (json.RawMessage, error) {
		upcasts++
		var m map[string]any
		if err := json.Unmarshal(in, &m); err != nil {
			return nil, err
		}
		if m["total"] == "poison" {
			return nil, errors.New("poisoned total")
		}
		m["note"] = "from v2"
		return json.Marshal(m)
	})
	require.Equal(t, 3, CurrentSchema(name))

	t.Run("missing upcaster", func(t *testing.T) {
		_, err := DecodeBody(uuid.New(), name, 1, v1)
		requireDecodeError(t, err, name, 1, "no upcaster from v1")
		require.Zero(t, upcasts, "nothing is upcast past a missing step")
	})

	RegisterUpcaster(name, 1, func(in json.RawMessage) (json.RawMessage, error) {
		var old codecTestV1
		if err := json.Unmarshal(in, &old); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"total": old.Amount, "currency": "CNY"})
	})
	require.Equal(t, 3, CurrentSchema(name), "an upcaster for an older step does not lower the current version")

	t.Run("v1 upcast in sequence", func(t *testing.T) {
		id := uuid.New()
		e, err := DecodeBody(id, name, 1, v1)
		require.NoError(t, err)
		require.Equal(t, codecTestV3{Total: "12.50", Currency: "CNY", Note: "from v2"}, e.Data)
		require.Equal(t, 3, e.SchemaVersion)
		require.Equal(t, id, e.ID)
	})
	t.Run("v2 upcast once", func(t *testing.T) {
		e, err := DecodeBody(uuid.New(), name, 2, bodyOf(t, codecTestV3{Total: "1", Currency: "USD"}))
		require.NoError(t, err)
		require.Equal(t, codecTestV3{Total: "1", Currency: "USD", Note: "from v2"}, e.Data)
	})
	t.Run("v3 read as is", func(t *testing.T) {
		before := upcasts
		e, err := DecodeBody(uuid.New(), name, 3, bodyOf(t, codecTestV3{Total: "2", Currency: "EUR", Note: "n"}))
		require.NoError(t, err)
		require.Equal(t, codecTestV3{Total: "2", Currency: "EUR", Note: "n"}, e.Data)
		require.Equal(t, before, upcasts)
	})
	t.Run("failing upcaster", func(t *testing.T) {
		_, err := DecodeBody(uuid.New(), name, 2, bodyOf(t, codecTestV3{Total: "poison"}))
		requireDecodeError(t, err, name, 2, "poisoned total")
	})
	t.Run("upcaster given bad data", func(t *testing.T) {
		_, err := DecodeBody(uuid.New(), name, 1, []byte(`{"data":{"amount":12}}`))
		requireDecodeError(t, err, name, 1, "cannot unmarshal number")
	})
	t.Run("version from the future", func(t *testing.T) {
		_, err := DecodeBody(uuid.New(), name, 4, v1)
		requireDecodeError(t, err, name, 4, "unsupported schema version (current 3)")
	})

	t.Run("re-registering keeps version and upcasters", func(t *testing.T) {
		RegisterEvent[codecTestV3]()
		require.Equal(t, 3, CurrentSchema(name))
		e, err := DecodeBody(uuid.New(), name, 1, v1)
		require.NoError(t, err)
		require.Equal(t, codecTestV3{Total: "12.50", Currency: "CNY", Note: "from v2"}, e.Data)
	})
}

func TestRegisterEventRefusesAnEmptyName(t *testing.T) {
	n := len(registry)
	require.PanicsWithValue(t, fmt.Sprintf("domain: event type %T has an empty name", codecTestUnnamed{}), func() {
		RegisterEvent[codecTestUnnamed]()
	})
	require.Len(t, registry, n)
	_, ok := registry[""]
	require.False(t, ok)
	require.False(t, strings.Contains(strings.Join(EventTypes(), ","), "CodecTest"), "a test type leaked into the registry")
}
