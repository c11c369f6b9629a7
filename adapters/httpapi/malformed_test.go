package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/domain"
)

const (
	shopA   = "/v1/shops/pdd/shop-a"
	payouts = shopA + "/payouts"
	// okPayout is a valid InitiatePayout body on order O1 of shop A.
	okPayout = `{"payout_id":"PX","order_id":"O1","amount":"5","type":"shipping","reason":"shipping"}`
)

// payoutWith is okPayout with one field replaced (or added).
func payoutWith(field, value string) string {
	fields := map[string]string{"payout_id": `"PX"`, "order_id": `"O1"`, "amount": `"5"`, "type": `"shipping"`, "reason": `"shipping"`}
	fields[field] = value
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{"payout_id", "order_id", "amount", "type", "reason", field} {
		v, ok := fields[k]
		if !ok {
			continue
		}
		delete(fields, k)
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteString("}")
	return b.String()
}

// TestMalformedAndForbiddenRequestsAppendNothing: each request is refused
// with its status and code, and the log does not move.
func TestMalformedAndForbiddenRequestsAppendNothing(t *testing.T) {
	e := newEnv(t)
	e.setupShops()
	// A command whose key is then reused with another body.
	e.must(http.StatusCreated, req{method: "POST", path: shopA + "/staff/cs-1/quota", token: tokMainA, key: "reused-key",
		body: `{"per_payout":"50","per_day":"100"}`})
	huge := `{"payout_id":"PX","order_id":"O1","amount":"5","type":"shipping","reason":"` + strings.Repeat("x", 70<<10) + `"}`
	post := func(body string) req { return req{method: "POST", path: payouts, token: tokMainA, body: body} }

	cases := []struct {
		name   string
		q      req
		status int
		code   string
	}{
		// JSON syntax and shape
		{"truncated JSON", post(`{"payout_id":"PX"`), 400, httpapi.CodeMalformedJSON},
		{"missing value", post(`{"amount": }`), 400, httpapi.CodeMalformedJSON},
		{"not JSON at all", post(`payout please`), 400, httpapi.CodeMalformedJSON},
		{"array instead of object", post(`[]`), 400, httpapi.CodeMalformedJSON},
		{"string instead of object", post(`"PX"`), 400, httpapi.CodeMalformedJSON},
		{"number instead of object", post(`123`), 400, httpapi.CodeMalformedJSON},
		{"single quotes", post(`{'payout_id':'PX'}`), 400, httpapi.CodeMalformedJSON},
		{"trailing comma", post(`{"payout_id":"PX",}`), 400, httpapi.CodeMalformedJSON},
		{"trailing object", post(okPayout + `{}`), 400, httpapi.CodeTrailingData},
		{"trailing garbage", post(okPayout + `x`), 400, httpapi.CodeTrailingData},
		{"unknown field", post(payoutWith("amt", `"5"`)), 400, httpapi.CodeUnknownField},
		{"actor in the body", post(payoutWith("actor", `{"id":"admin","role":"main"}`)), 400, httpapi.CodeUnknownField},
		{"unknown nested field", req{method: "PUT", path: shopA + "/limits", token: tokMainA, body: `{"limits":{"daily":"5"}}`}, 400, httpapi.CodeUnknownField},
		// types
		{"ID as a number", post(payoutWith("payout_id", `5`)), 400, httpapi.CodeInvalidField},
		{"flag as a string", post(payoutWith("submit_for_approval", `"yes"`)), 400, httpapi.CodeInvalidField},
		{"amount as a boolean", post(payoutWith("amount", `true`)), 400, httpapi.CodeInvalidField},
		{"amount as words", post(payoutWith("amount", `"five"`)), 400, httpapi.CodeInvalidField},
		{"amount as an object", post(payoutWith("amount", `{"v":5}`)), 400, httpapi.CodeInvalidField},
		{"count as a string", req{method: "PUT", path: shopA + "/limits", token: tokMainA, body: `{"limits":{"daily_count":"5"}}`}, 400, httpapi.CodeInvalidField},
		{"count overflowing", req{method: "PUT", path: shopA + "/limits", token: tokMainA, body: `{"limits":{"daily_count":1e30}}`}, 400, httpapi.CodeInvalidField},
		{"time not RFC 3339", req{method: "PUT", path: shopA + "/orders/O2", token: tokOpPDD,
			body: `{"buyer":"b","cash_paid":"5","other_paid":"0","status":"paid","placed_at":"yesterday"}`}, 400, httpapi.CodeInvalidField},
		// amounts the domain refuses (422, the rule's code)
		{"negative amount", post(payoutWith("amount", `"-5"`)), 422, domain.CodeMoneyNonPositive},
		{"zero amount (PDD: a missing amount)", post(payoutWith("amount", `"0"`)), 422, "pdd.input.required"},
		{"three decimals", post(payoutWith("amount", `"10.005"`)), 422, domain.CodeMoneyPrecision},
		{"three decimals as a number", post(payoutWith("amount", `10.005`)), 422, domain.CodeMoneyPrecision},
		{"negative top-up", req{method: "POST", path: shopA + "/accounts/proceeds/top-ups", token: tokMainA, body: `{"amount":"-1"}`}, 422, domain.CodeMoneyNonPositive},
		// amounts that are no money at all
		{"huge exponent", post(payoutWith("amount", `"1e40"`)), 400, httpapi.CodeAmountRange},
		{"tiny exponent", post(payoutWith("amount", `1e-30`)), 400, httpapi.CodeAmountRange},
		{"too many digits", post(payoutWith("amount", `"1234567890123456789012345678901"`)), 400, httpapi.CodeAmountRange},
		{"huge quota", req{method: "PUT", path: shopA + "/staff/cs-1/quota", token: tokMainA, body: `{"per_day":"9e99"}`}, 400, httpapi.CodeAmountRange},
		// the rest of the input, decided by the domain
		{"empty body", req{method: "POST", path: payouts, token: tokMainA}, 422, domain.CodeInputInvalid},
		{"null body", post(`null`), 422, domain.CodeInputInvalid},
		{"bad payout ID", post(payoutWith("payout_id", `"P X"`)), 422, domain.CodeInputInvalid},
		{"unknown payout type", post(payoutWith("type", `"bribe"`)), 422, domain.CodeInputInvalid},
		{"no reason (PDD)", post(payoutWith("reason", `""`)), 422, "pdd.input.required"},
		{"unknown order", post(payoutWith("order_id", `"O404"`)), 404, domain.CodeOrderUnknown},
		{"unknown payout to approve", req{method: "POST", path: payouts + "/P404/approve", token: tokMainA}, 404, domain.CodePayoutUnknown},
		{"reused key, other body", req{method: "POST", path: shopA + "/staff/cs-1/quota", token: tokMainA, key: "reused-key",
			body: `{"per_payout":"60","per_day":"100"}`}, 422, domain.CodeIdempotencyReused},
		// size and media type
		{"body above the limit", post(huge), 413, httpapi.CodeTooLarge},
		{"wrong content type", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, contentType: "text/plain"}, 415, httpapi.CodeMediaType},
		{"XML content type", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, contentType: "application/xml"}, 415, httpapi.CodeMediaType},
		{"no content type", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, contentType: "-"}, 415, httpapi.CodeMediaType},
		// headers
		{"missing idempotency key", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, noKey: true}, 400, httpapi.CodeIdemMissing},
		{"idempotency key too long", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, key: strings.Repeat("k", 201)}, 400, httpapi.CodeIdemInvalid},
		{"idempotency key with a control byte", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, key: "k\x01"}, 400, httpapi.CodeIdemInvalid},
		{"idempotency key not ASCII", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, key: "clé"}, 400, httpapi.CodeIdemInvalid},
		{"correlation ID not ASCII", req{method: "POST", path: payouts, token: tokMainA, body: okPayout, headers: map[string]string{"X-Correlation-Id": "é"}}, 400, httpapi.CodeCorrelationInvalid},
		// path values
		{"unknown platform", req{method: "POST", path: "/v1/shops/amazon/shop-a/payouts", token: tokOpAll, body: okPayout}, 400, httpapi.CodeInvalidPath},
		{"shop ID with a dot", req{method: "POST", path: "/v1/shops/pdd/shop.a/payouts", token: tokMainA, body: okPayout}, 400, httpapi.CodeInvalidPath},
		{"shop ID too long", req{method: "POST", path: "/v1/shops/pdd/" + strings.Repeat("s", 65) + "/payouts", token: tokMainA, body: okPayout}, 400, httpapi.CodeInvalidPath},
		{"payout ID with a dot", req{method: "POST", path: payouts + "/P.1/approve", token: tokMainA}, 400, httpapi.CodeInvalidPath},
		{"staff ID with a dot", req{method: "POST", path: shopA + "/staff/cs.1/quota", token: tokMainA, body: `{}`}, 400, httpapi.CodeInvalidPath},
		// body against path
		{"platform contradicts the path", post(payoutWith("platform", `"jd"`)), 400, httpapi.CodePathMismatch},
		{"shop contradicts the path", post(payoutWith("shop_id", `"shop-b"`)), 400, httpapi.CodePathMismatch},
		{"payout contradicts the path", req{method: "POST", path: payouts + "/P1/approve", token: tokMainA, body: `{"payout_id":"P2"}`}, 400, httpapi.CodePathMismatch},
		{"staff contradicts the path", req{method: "POST", path: shopA + "/staff/cs-2/quota", token: tokMainA, body: `{"staff":"cs-3"}`}, 400, httpapi.CodePathMismatch},
		{"order contradicts the path", req{method: "PUT", path: shopA + "/orders/O2", token: tokOpPDD, body: `{"order_id":"O3"}`}, 400, httpapi.CodePathMismatch},
		{"account kind contradicts the path", req{method: "POST", path: shopA + "/accounts/proceeds/top-ups", token: tokMainA, body: `{"kind":"reserve","amount":"5"}`}, 400, httpapi.CodePathMismatch},
		// routes and methods
		{"wrong method", req{method: "DELETE", path: payouts, token: tokMainA}, 405, httpapi.CodeMethodNotAllowed},
		{"PATCH on limits", req{method: "PATCH", path: shopA + "/limits", token: tokMainA, body: `{}`}, 405, httpapi.CodeMethodNotAllowed},
		{"unknown route", req{method: "POST", path: shopA + "/nothing", token: tokMainA, body: `{}`}, 404, httpapi.CodeNotFound},
		{"unknown version", req{method: "POST", path: "/v2/shops/pdd/shop-a/payouts", token: tokMainA, body: okPayout}, 404, httpapi.CodeNotFound},
		// tokens
		{"no token", req{method: "POST", path: payouts, body: okPayout}, 401, httpapi.CodeMissingToken},
		{"basic scheme", req{method: "POST", path: payouts, body: okPayout, headers: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}}, 401, httpapi.CodeInvalidToken},
		{"empty bearer", req{method: "POST", path: payouts, body: okPayout, headers: map[string]string{"Authorization": "Bearer "}}, 401, httpapi.CodeInvalidToken},
		{"malformed token", req{method: "POST", path: payouts, token: tokMalformed, body: okPayout}, 401, httpapi.CodeInvalidToken},
		{"unknown token", req{method: "POST", path: payouts, token: tokUnknown, body: okPayout}, 401, httpapi.CodeInvalidToken},
		// authorization
		{"sub sets limits", req{method: "PUT", path: shopA + "/limits", token: tokSubA, body: `{}`}, 403, httpapi.CodeForbidden},
		{"staff of another shop", req{method: "POST", path: payouts, token: tokMainB, body: okPayout}, 403, httpapi.CodeShopForbidden},
		{"operator of another platform", req{method: "PUT", path: shopA + "/orders/O2", token: tokOpJD, body: `{}`}, 403, httpapi.CodeShopForbidden},
		{"operator initiates a payout", req{method: "POST", path: payouts, token: tokOpPDD, body: okPayout}, 403, httpapi.CodeForbidden},
		{"staff registers a shop", req{method: "POST", path: "/v1/shops", token: tokMainA, body: `{"platform":"pdd","shop_id":"s9","name":"n","main_account":"a"}`}, 403, httpapi.CodeForbidden},
		{"operator registers on another platform", req{method: "POST", path: "/v1/shops", token: tokOpJD, body: `{"platform":"pdd","shop_id":"s9","name":"n","main_account":"a"}`}, 403, httpapi.CodeShopForbidden},
		{"sub enrolls (decision: main only)", req{method: "POST", path: shopA + "/enrollment", token: tokSubA, body: `{"accept_agreement":true}`}, 403, domain.CodeAuthForbidden},
		// reads
		{"sub reads another's records", req{method: "GET", path: payouts + "?staff=admin", token: tokSubA}, 403, httpapi.CodeForbidden},
		{"sub reads another's quota", req{method: "GET", path: shopA + "/staff/cs-9/quota", token: tokSubA}, 403, httpapi.CodeForbidden},
		{"sub reads balances", req{method: "GET", path: shopA + "/balances", token: tokSubA}, 403, httpapi.CodeForbidden},
		{"records from not a time", req{method: "GET", path: payouts + "?from=monday", token: tokMainA}, 400, httpapi.CodeInvalidQuery},
		{"records limit zero", req{method: "GET", path: payouts + "?limit=0", token: tokMainA}, 400, httpapi.CodeInvalidQuery},
		{"records bad order ID", req{method: "GET", path: payouts + "?order=a%20b", token: tokMainA}, 400, httpapi.CodeInvalidQuery},
		{"records empty range", req{method: "GET", path: payouts + "?from=2026-03-10T00:00:00Z&to=2026-03-09T00:00:00Z", token: tokMainA}, 422, domain.CodeRecordsQuery},
		{"totals from after to", req{method: "GET", path: shopA + "/totals?from=2026-03-10&to=2026-03-09", token: tokMainA}, 400, httpapi.CodeInvalidQuery},
		{"quota day not a date", req{method: "GET", path: shopA + "/quota?day=10/03/2026", token: tokMainA}, 400, httpapi.CodeInvalidQuery},
		{"unknown payout record", req{method: "GET", path: payouts + "/P404", token: tokMainA}, 404, domain.CodePayoutUnknown},
	}
	require.GreaterOrEqual(t, len(cases), 50)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.head()
			got := e.do(c.q)
			require.Equal(t, c.status, got.status, "%s", got.raw)
			require.Equal(t, "application/json", got.header.Get("Content-Type"))
			require.Equal(t, c.code, got.code(), "%s", got.raw)
			require.NotEmpty(t, got.json["message"])
			require.Equal(t, before, e.head(), "a refused request appended events")
			if c.status == http.StatusMethodNotAllowed {
				require.NotEmpty(t, got.header.Get("Allow"))
			}
		})
	}
}
