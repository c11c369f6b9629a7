package domain

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// The generated codec (codec_gen.go) against encoding/json, the reference.

// requireSameAsReflect decodes raw as typ at its current schema with both
// decoders and requires the same answer: the same event, or an error from
// the reference when the fast reader refused. It reports whether the fast
// reader accepted the body.
func requireSameAsReflect(t testing.TB, typ string, raw []byte) bool {
	t.Helper()
	k := registry[typ]
	id := uuid.MustParse("01890a5d-ac96-774b-bcce-b302099a8057")
	want, wantErr := decodeBodyReflect(k, id, typ, k.current, raw)
	got := Event{ID: id, Type: typ, SchemaVersion: k.current}
	if k.fast == nil || !decodeBodyFast(k.fast, raw, &got) {
		return false
	}
	if wantErr != nil {
		t.Fatalf("%s %s: the fast reader accepted what encoding/json refuses (%v): %+v", typ, raw, wantErr, got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %s:\nfast    %#v\nreflect %#v", typ, raw, got, want)
	}
	return true
}

// requireSameEncoding requires EncodeBody to write what encoding/json
// writes, through the generated writer.
func requireSameEncoding(t testing.TB, e Event) []byte {
	t.Helper()
	want, err := encodeBodyReflect(e)
	require.NoError(t, err)
	got, ok := encodeBodyFast(e)
	require.True(t, ok, "the generated writer refused %s %+v", e.Type, e.Data)
	require.Equal(t, string(want), string(got), "%s", e.Type)
	return got
}

func codecSampleEvents() []Event {
	at := time.Date(2026, 11, 23, 10, 0, 0, 123456789, mdlCST)
	due := at.Add(72 * time.Hour).UTC()
	n := 3
	payloads := []Payload{
		ShopRegistered{Platform: PlatformPDD, ShopID: "S1", Name: `Shop "<One>" & 店`, TimeZone: "Asia/Shanghai", MainAccount: "M", Qualification: "q", ToolEnabled: true, ZeroDeposit: true},
		ShopEnrolled{By: "M", Limits: Limits{PerPayoutMax: mdlDP("200"), PerOrderCount: &n}},
		ShopLimitsSet{New: Limits{DailyAmount: mdlDP("50"), DailyCount: intp(3)}, PasswordFreeThreshold: mdlD("5")},
		ToolDisabled{},
		ShopStandingChanged{Status: ShopSuspended, OldStatus: ShopNormal, UnpaidBills: true},
		FundingAccountOpened{Kind: AccountReserve},
		FundsToppedUp{Kind: AccountReserve, Amount: mdlD("1000.50"), BalanceAfter: mdlD("1000.5")},
		ProceedsCredited{Amount: mdlD("0.01"), BalanceAfter: mdlD("99999999999999999999.99")},
		FundsFrozen{Kind: AccountProceeds, Amount: mdlD("1"), FrozenAfter: mdlD("1")},
		FundsUnfrozen{Kind: AccountProceeds, Amount: mdlD("1"), FrozenAfter: mdlD("0")},
		ArrearsChanged{Kind: AccountWallet, Old: mdlD("0"), New: mdlD("-12.3")},
		StaffQuotaGranted{Staff: "S1", PerDay: mdlDP("100")},
		StaffQuotaChanged{Staff: "S1", OldPerDay: mdlDP("100"), PerPayout: mdlDP("10")},
		StaffQuotaDisabled{Staff: "S1"}, StaffQuotaEnabled{Staff: "S1"}, StaffQuotaDeleted{Staff: "S1"},
		OrderRegistered{OrderID: "O1", Buyer: "b\u2028\x01", CashPaid: mdlD("90"), OtherPaid: mdlD("10"), Status: OrderPaid, PlacedAt: at, GroupFormedAt: &at, PaidAt: &due, Update: true},
		OrderRefundRecorded{OrderID: "O1", RefundID: "R1", Amount: mdlD("3")},
		PlatformShippingRefundRecorded{OrderID: "O1", RefundID: "R2", Amount: mdlD("4")},
		DuplicateCompensationWarned{WarningID: "W1", Kind: CodeDupSameType, OrderID: "O1", PayoutIDs: []string{"P1", "P2"}, Amount: mdlD("10")},
		DuplicateCompensationWarned{WarningID: "W2", Kind: CodeDupSameType, OrderID: "O1", PayoutIDs: []string{}, Amount: mdlD("10")},
		DuplicateCompensationWarned{WarningID: "W3", Kind: CodeDupSameType, OrderID: "O1", Amount: mdlD("10")},
		DuplicateWarningAcknowledged{WarningID: "W1", By: "M"},
		PayoutInitiated{PayoutID: "P1", OrderID: "O1", Staff: "S1", StaffRole: RoleSub, Amount: mdlD("12.50"), Type: TypeShipping, Reason: "late\n\t\"parcel\"",
			Funding: AccountProceeds, Route: RouteDirect, Status: StatusPending, InitiatedAt: at, Day: "2026-11-23", DeadlineAt: &due,
			HoldsFunds: true, QuotaCharged: true, Checks: []Check{{Rule: "dy.order.cap", Limit: mdlD("20"), UsedAfter: mdlD("12.5")}, {Rule: "x"}}},
		PayoutApproved{PayoutID: "P1", By: "M"}, PayoutRejected{PayoutID: "P1", By: "M", Reason: "no"},
		PayoutToppedUp{PayoutID: "P1"}, PayoutTopUpFailed{PayoutID: "P1"}, PayoutProcessing{PayoutID: "P1", Retry: true},
		PayoutSucceeded{PayoutID: "P1", Amount: mdlD("12.5"), Funding: AccountProceeds}, PayoutFailed{PayoutID: "P1", Reason: "bank declined"},
		PayoutFailedForBuyerAccount{PayoutID: "P1", CardExpiresAt: due}, AccountCardSent{PayoutID: "P1", CardExpiresAt: due},
		BuyerAccountSubmitted{PayoutID: "P1"}, PayoutConfirmedByBuyer{PayoutID: "P1", Amount: mdlD("1"), Funding: AccountReserve},
		CardExpired{Card: "account", ID: "P1"}, PayoutClosed{PayoutID: "P1", RefundDueAt: &due}, PayoutClosed{PayoutID: "P2"},
		PayoutRefundedToMerchant{PayoutID: "P1", Amount: mdlD("2"), Funding: AccountReserve},
		CollectionCardSent{CollectionID: "C1", OrderID: "O1", Amount: mdlD("30"), Reason: ReasonShippingDifference, SentAt: at, Day: "2026-11-23", ExpiresAt: due},
		CollectionPaid{CollectionID: "C1", Amount: mdlD("30")}, CollectionCardCancelled{CollectionID: "C1", By: "M"},
	}
	req := Request{Now: at, Actor: mdlAsMain, IdempotencyKey: "k1", CorrelationID: "c1", CausationID: "c0", CommandDigest: "d"}
	return NewEvents("pdd.S1", "Test", req, func() uuid.UUID { return uuid.Nil }, payloads)
}

// TestFastCodecAgreesWithEncodingJSON: for a sample of every registered
// event type, the generated writer writes what encoding/json writes and
// the generated reader reads it back as encoding/json does.
func TestFastCodecAgreesWithEncodingJSON(t *testing.T) {
	covered := map[string]bool{}
	for _, e := range codecSampleEvents() {
		b := requireSameEncoding(t, e)
		require.True(t, requireSameAsReflect(t, e.Type, b), "the fast reader refused %s", b)
		covered[e.Type] = true
	}
	for _, typ := range EventTypes() {
		if registry[typ].fast != nil {
			require.True(t, covered[typ], "no sample of %s", typ)
		}
	}
}

// TestFastCodecAgreesOnModelEvents runs the model checker's workload and
// compares both codecs on every event it produced.
func TestFastCodecAgreesOnModelEvents(t *testing.T) {
	st := &mdlStats{rejected: map[string]int{}, events: map[string]int{}, final: map[PayoutStatus]int{}}
	types := map[string]bool{}
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "run_seed")
		w := &mdlWorld{t: rt, stats: st, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
		w.setup()
		for w.step = 1; w.step <= mdlMaxSteps; w.step++ {
			w.do(mdlPick(w, mdlActions))
		}
		for _, m := range w.shops {
			for _, e := range m.envs {
				b := requireSameEncoding(t, e)
				require.True(t, requireSameAsReflect(t, e.Type, b), "the fast reader refused %s", b)
				types[e.Type] = true
			}
		}
	})
	t.Logf("event types compared: %d", len(types))
}

// TestFastReaderRefusesWhatItCannotMirror: bodies the generated reader
// hands to encoding/json (whose answer DecodeBody then gives), and bodies
// it reads itself although they are unusual.
func TestFastReaderRefusesWhatItCannotMirror(t *testing.T) {
	good := `{"occurred_at":"2026-11-23T10:00:00Z","actor":{"id":"M","role":"main"},"data":{"payout_id":"P1","amount":"1.5"}}`
	require.True(t, requireSameAsReflect(t, "PayoutSucceeded", []byte(good)))
	cases := []struct {
		name string
		typ  string
		raw  string
		fast bool // the fast reader accepts it
	}{
		{"unknown payload key (encoding/json ignores it)", "PayoutSucceeded", `{"data":{"payout_id":"P1","extra":1}}`, false},
		{"unknown envelope key", "PayoutSucceeded", `{"version":2,"data":{"payout_id":"P1"}}`, false},
		{"case-folded key (encoding/json matches it)", "PayoutSucceeded", `{"data":{"Payout_ID":"P1"}}`, false},
		{"repeated key (encoding/json merges)", "PayoutSucceeded", `{"data":{"payout_id":"P1","payout_id":"P2"}}`, false},
		{"repeated nested object", "ShopEnrolled", `{"data":{"limits":{"daily_count":1},"limits":{"per_order_count":2}}}`, false},
		{"escaped key", "PayoutSucceeded", `{"data":{"payout\u005fid":"P1"}}`, false},
		{"null data", "PayoutSucceeded", `{"data":null}`, false},
		{"no data", "PayoutSucceeded", `{"actor":{"id":"M"}}`, false},
		{"null string field (left as is)", "PayoutSucceeded", `{"data":{"payout_id":null}}`, false},
		{"null nested object", "ShopEnrolled", `{"data":{"limits":null}}`, false},
		{"null element in a list of objects", "PayoutInitiated", `{"data":{"checks":[null]}}`, false},
		{"trailing garbage", "PayoutSucceeded", `{"data":{"payout_id":"P1"}} x`, false},
		{"trailing comma", "PayoutSucceeded", `{"data":{"payout_id":"P1",}}`, false},
		{"amount 1. (not JSON)", "PayoutSucceeded", `{"data":{"amount":1.}}`, false},
		{"amount 01 (not JSON)", "PayoutSucceeded", `{"data":{"amount":01}}`, false},
		{"amount with an escape", "PayoutSucceeded", `{"data":{"amount":"1\u002e5"}}`, false},
		{"count with a fraction", "ShopEnrolled", `{"data":{"limits":{"daily_count":1.0}}}`, false},
		{"count out of range", "ShopEnrolled", `{"data":{"limits":{"daily_count":1e30}}}`, false},
		{"bad time", "PayoutSucceeded", `{"occurred_at":"yesterday","data":{}}`, false},
		{"control character in a string", "PayoutSucceeded", "{\"data\":{\"payout_id\":\"a\x01\"}}", false},
		{"amount as a number", "PayoutSucceeded", `{"data":{"amount":12.50}}`, true},
		{"amount in exponent form", "PayoutSucceeded", `{"data":{"amount":"1.5e2"}}`, true},
		{"escapes in a string", "PayoutFailed", `{"data":{"payout_id":"P\u00e9\n","reason":"\ud83d\ude00 \"x\" \\ \/"}}`, true},
		{"invalid UTF-8 in a string", "PayoutFailed", "{\"data\":{\"reason\":\"\xff\xfe ok\"}}", true},
		{"lone surrogate escape", "PayoutFailed", `{"data":{"reason":"\ud800"}}`, true},
		{"whitespace everywhere", "PayoutProcessing", " {\n\"data\" :\t{ \"payout_id\" : \"P1\" , \"retry\" : true } }\r\n", true},
		{"empty payload", "PayoutProcessing", `{"data":{}}`, true},
		{"null pointers", "PayoutClosed", `{"data":{"refund_due_at":null,"refund_latest_at":null}}`, true},
		{"empty list", "DuplicateCompensationWarned", `{"data":{"payout_ids":[]}}`, true},
		{"null list", "DuplicateCompensationWarned", `{"data":{"payout_ids":null}}`, true},
		{"offset time", "PayoutFailedForBuyerAccount", `{"occurred_at":"2026-11-23T10:00:00.5+08:00","data":{"card_expires_at":"2026-11-23T10:00:00-05:30"}}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.fast, requireSameAsReflect(t, c.typ, []byte(c.raw)))
			// DecodeBody answers what encoding/json answers, either way.
			k := registry[c.typ]
			id := uuid.MustParse("01890a5d-ac96-774b-bcce-b302099a8057")
			want, wantErr := decodeBodyReflect(k, id, c.typ, k.current, []byte(c.raw))
			got, err := DecodeBody(id, c.typ, k.current, []byte(c.raw))
			if wantErr != nil {
				require.EqualError(t, err, wantErr.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

// TestFastCodecFollowsTheRegisteredType: registering another Go type under
// an existing name (an evolved event) drops the generated reader, which
// knows the old shape only; encoding/json reads the new one.
func TestFastCodecFollowsTheRegisteredType(t *testing.T) {
	name := registerForTest[codecTestPlain](t)
	require.Nil(t, registry[name].fast, "a type without a generated reader")
	e, err := DecodeBody(uuid.Nil, name, 1, []byte(`{"data":{"n":7}}`))
	require.NoError(t, err)
	require.Equal(t, codecTestPlain{N: 7}, e.Data)
	b, err := EncodeBody(Event{Type: name, Data: codecTestPlain{N: 8}})
	require.NoError(t, err)
	require.JSONEq(t, `{"occurred_at":"0001-01-01T00:00:00Z","actor":{"id":"","role":""},"data":{"n":8}}`, string(b))
	require.NotNil(t, registry["PayoutFailed"].fast)
}

// FuzzFastDecodeBody: on any input, the generated reader either refuses or
// answers exactly what encoding/json answers; what it read, the generated
// writer writes as encoding/json does. Never a panic.
//
//	go test ./domain/ -run '^$' -fuzz FuzzFastDecodeBody -fuzztime 60s
func FuzzFastDecodeBody(f *testing.F) {
	for _, e := range codecSampleEvents() {
		b, err := encodeBodyReflect(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Type, b)
	}
	for _, raw := range []string{``, `{}`, `{"data":{}}`, `{"data":null}`, `{"data":{"amount":1e400}}`, `{"data":{"checks":[{"limit":"NaN"}]}}`,
		`{"data":{"limits":{"daily_count":-0}}}`, `{"data":{"payout_ids":["a",null]}}`, "{\"data\":{\"payout_id\":\"\xff\"}}"} {
		f.Add("PayoutInitiated", []byte(raw))
		f.Add("ShopLimitsSet", []byte(raw))
		f.Add("DuplicateCompensationWarned", []byte(raw))
	}
	f.Fuzz(func(t *testing.T, typ string, raw []byte) {
		k, ok := registry[typ]
		if !ok || k.fast == nil {
			return
		}
		if !requireSameAsReflect(t, typ, raw) {
			return
		}
		e, err := DecodeBody(uuid.Nil, typ, k.current, raw)
		if err != nil {
			t.Fatal(err)
		}
		want, werr := encodeBodyReflect(e)
		got, ok := encodeBodyFast(e)
		if ok && (werr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("encode %s: fast %s, encoding/json %s (%v)", typ, got, want, werr)
		}
	})
}

// BenchmarkDecodeBody: a PayoutInitiated body through the generated reader
// and through encoding/json.
//
//	go test ./domain/ -run '^$' -bench DecodeBody -benchmem
func BenchmarkDecodeBody(b *testing.B) {
	var e Event
	for _, s := range codecSampleEvents() {
		if s.Type == "PayoutInitiated" {
			e = s
		}
	}
	raw, err := EncodeBody(e)
	require.NoError(b, err)
	k := registry[e.Type]
	b.Run("generated", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeBody(e.ID, e.Type, 1, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeBodyReflect(k, e.ID, e.Type, 1, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode_generated", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeBody(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode_encoding_json", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeBodyReflect(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
