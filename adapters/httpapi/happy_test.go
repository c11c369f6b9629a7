package httpapi_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/projections"
)

// TestHappyPathsThroughHTTP: on each platform, a shop registered, funded
// and enrolled, an order recorded, a payout (Taobao: a collection)
// initiated and brought to success, then read back from the projections
// and the CSV export, all through the API.
func TestHappyPathsThroughHTTP(t *testing.T) {
	e := newEnv(t)
	placed := t0.Add(-48 * time.Hour).Format(time.RFC3339)
	order := func(cash, channel string) string {
		return `{"buyer":"b1","cash_paid":"` + cash + `","other_paid":"0","status":"shipped","payment_mode":"online",` +
			`"payment_kind":"normal","channel":"` + channel + `","placed_at":"` + placed + `","paid_at":"` + placed + `","group_formed_at":"` + placed + `"}`
	}
	cases := []struct {
		platform domain.PlatformID
		register string // extra RegisterShop fields
		account  string // funding account kind ("" none)
		fund     req    // funding (path filled in)
		enroll   bool
		channel  string
		payout   string // InitiatePayout body ("" for Taobao)
		steps    []string
		final    domain.PayoutStatus
		query    string // records search
	}{
		{platform: domain.Platform1688, account: "reserve", fund: req{method: "POST", path: "/accounts/reserve/top-ups", token: "main", body: `{"amount":"2000"}`},
			enroll: true, payout: `{"payout_id":"P1","order_id":"O1","amount":"45","type":"price_difference","reason":"price drop"}`,
			steps: []string{"confirm"}, final: domain.StatusSucceeded},
		{platform: domain.PlatformDouyin, account: "proceeds", fund: req{method: "POST", path: "/accounts/proceeds/credits", token: "op", body: `{"amount":"20000"}`},
			channel: "douyin", payout: `{"payout_id":"P1","order_id":"O1","amount":"45.5","type":"service","reason":"late"}`,
			steps: []string{"processing", "succeeded"}, final: domain.StatusSucceeded},
		{platform: domain.PlatformJD, register: `,"entity_type":"enterprise","cooperation_mode":"sop","after_sales_self_service":true`,
			account: "wallet", fund: req{method: "POST", path: "/accounts/wallet/top-ups", token: "main", body: `{"amount":"500"}`}, enroll: true,
			payout: `{"payout_id":"P1","order_id":"O1","amount":30,"type":"shipping","reason":"shipping","sms_verified":true}`,
			steps:  []string{"processing", "succeeded"}, final: domain.StatusSucceeded,
			query: "?from=" + t0.Add(-time.Hour).Format(time.RFC3339) + "&to=" + t0.Add(time.Hour).Format(time.RFC3339)},
		{platform: domain.PlatformPDD, account: "proceeds", fund: req{method: "POST", path: "/accounts/proceeds/credits", token: "op", body: `{"amount":"3000"}`},
			payout: `{"payout_id":"P1","order_id":"O1","amount":"8.00","type":"shipping","reason":"return shipping"}`,
			steps:  []string{"processing", "succeeded"}, final: domain.StatusSucceeded},
		{platform: domain.PlatformTaobao, enroll: true},
	}
	for _, c := range cases {
		t.Run(string(c.platform), func(t *testing.T) {
			p, shop := string(c.platform), "happy-"+string(c.platform)
			base := "/v1/shops/" + p + "/" + shop
			e.auth["tok-main-"+p] = staff(c.platform, shop, "admin", domain.RoleMain)
			e.auth["tok-sub-"+p] = staff(c.platform, shop, "cs-1", domain.RoleSub)
			tok := map[string]string{"main": "tok-main-" + p, "sub": "tok-sub-" + p, "op": tokOpAll}

			r := e.must(http.StatusCreated, req{method: "POST", path: "/v1/shops", token: tokOpAll,
				body: `{"platform":"` + p + `","shop_id":"` + shop + `","name":"Happy","main_account":"admin"` + c.register + `}`})
			require.Equal(t, base, r.header.Get("Location"))
			require.Equal(t, p+"."+shop, r.json["stream"])
			if c.account != "" {
				e.must(http.StatusCreated, req{method: "POST", path: base + "/accounts", token: tok["main"], body: `{"kind":"` + c.account + `"}`})
				f := c.fund
				f.path, f.token = base+f.path, tok[f.token]
				e.must(http.StatusOK, f)
			}
			if c.enroll {
				e.must(http.StatusOK, req{method: "POST", path: base + "/enrollment", token: tok["main"], body: `{"accept_agreement":true}`})
			}
			e.must(http.StatusOK, req{method: "PUT", path: base + "/orders/O1", token: tok["op"], body: order("90", c.channel)})

			if c.platform == domain.PlatformTaobao {
				r = e.must(http.StatusCreated, req{method: "POST", path: base + "/collections", token: tok["sub"],
					body: `{"collection_id":"K1","order_id":"O1","amount":"30","reason":"shipping_difference"}`})
				e.must(http.StatusOK, req{method: "POST", path: base + "/collections/K1/pay", token: tok["op"]})
				e.waitViews()
				r = e.must(http.StatusOK, req{method: "GET", path: base + "/totals", token: tok["main"]})
				col := r.json["collections"].([]any)
				require.Contains(t, col, map[string]any{"day": "2026-03-10", "kind": "shipping_difference", "outcome": "paid", "count": float64(1), "amount": "30.00"})
				return
			}

			key := "initiate-" + p
			first := e.must(http.StatusCreated, req{method: "POST", path: base + "/payouts", token: tok["main"], key: key, body: c.payout,
				headers: map[string]string{"X-Correlation-Id": "corr-" + p}})
			require.Equal(t, base+"/payouts/P1", first.header.Get("Location"))
			require.Equal(t, "corr-"+p, first.header.Get("X-Correlation-Id"))
			require.Equal(t, false, first.json["replayed"])
			evs := first.json["events"].([]any)
			require.Equal(t, "PayoutInitiated", evs[0].(map[string]any)["type"])
			require.Equal(t, "corr-"+p, evs[0].(map[string]any)["correlation_id"])
			require.Equal(t, map[string]any{"id": "admin", "role": "main"}, evs[0].(map[string]any)["actor"], "the actor is the token's")

			// The retry answers the first outcome, appending nothing.
			before := e.head()
			again := e.must(http.StatusCreated, req{method: "POST", path: base + "/payouts", token: tok["main"], key: key, body: c.payout,
				headers: map[string]string{"X-Correlation-Id": "corr-" + p}})
			require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
			require.Equal(t, true, again.json["replayed"])
			again.json["replayed"] = false
			require.Equal(t, first.json, again.json, "a replay answers the same body")
			require.Equal(t, before, e.head())

			for _, s := range c.steps {
				e.must(http.StatusOK, req{method: "POST", path: base + "/payouts/P1/" + s, token: tok["op"]})
			}
			e.waitViews()

			r = e.must(http.StatusOK, req{method: "GET", path: base + "/payouts/P1", token: tok["main"]})
			require.Equal(t, string(c.final), r.json["status"])
			require.Equal(t, "admin", r.json["staff"])
			r = e.must(http.StatusOK, req{method: "GET", path: base + "/payouts" + c.query, token: tok["op"]})
			require.Equal(t, float64(1), r.json["count"])
			// A sub-account sees none of the main account's payouts.
			e.must(http.StatusNotFound, req{method: "GET", path: base + "/payouts/P1", token: tok["sub"]})
			r = e.must(http.StatusOK, req{method: "GET", path: base + "/payouts" + c.query, token: tok["sub"]})
			require.Equal(t, float64(0), r.json["count"])

			for _, csvReq := range []req{
				{method: "GET", path: base + "/payouts.csv" + c.query, token: tok["main"]},
				{method: "GET", path: base + "/payouts" + c.query, token: tok["main"], headers: map[string]string{"Accept": "text/csv"}},
			} {
				r = e.must(http.StatusOK, csvReq)
				require.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
				rows, err := csv.NewReader(strings.NewReader(string(r.raw))).ReadAll()
				require.NoError(t, err)
				require.Len(t, rows, 2)
				require.Equal(t, projections.RecordsCSVHeader, rows[0])
				require.Equal(t, []string{p, shop, "P1", "O1", "admin"}, rows[1][:5])
				require.Equal(t, string(c.final), rows[1][8])
			}

			r = e.must(http.StatusOK, req{method: "GET", path: base + "/balances", token: tok["main"]})
			require.Len(t, r.json["accounts"], 1)
			r = e.must(http.StatusOK, req{method: "GET", path: base + "/totals?from=2026-03-10&to=2026-03-10", token: tok["op"]})
			require.NotEmpty(t, r.json["payouts"])
			r = e.must(http.StatusOK, req{method: "GET", path: base + "/quota", token: tok["sub"]})
			require.Equal(t, "2026-03-10", r.json["day"], "today in Asia/Shanghai")
			require.Equal(t, float64(1), r.json["count"])
		})
	}
}

// TestPDDApprovalFlowThroughHTTP: a sub-account without a quota submits a
// payout for approval, sees its own request, the admin approves it.
func TestPDDApprovalFlowThroughHTTP(t *testing.T) {
	e := newEnv(t)
	e.setupShops()
	r := e.must(http.StatusCreated, req{method: "POST", path: payouts, token: tokSubA,
		body: `{"payout_id":"Q1","order_id":"O1","amount":"12","type":"price_difference","reason":"price","submit_for_approval":true}`})
	require.Equal(t, "cs-1", r.json["events"].([]any)[0].(map[string]any)["actor"].(map[string]any)["id"])
	e.waitViews()
	r = e.must(http.StatusOK, req{method: "GET", path: shopA + "/approvals", token: tokSubA})
	require.Len(t, r.json["approvals"], 1)
	r = e.must(http.StatusOK, req{method: "GET", path: shopA + "/approvals", token: tokMainA})
	require.Equal(t, "pending", r.json["approvals"].([]any)[0].(map[string]any)["state"])
	r = e.must(http.StatusOK, req{method: "GET", path: payouts + "/Q1", token: tokSubA})
	require.Equal(t, "awaiting_approval", r.json["status"])

	r = e.do(req{method: "POST", path: payouts + "/Q1/approve", token: tokSubA})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.raw)
	require.Equal(t, "pdd.route.approval", r.code())
	e.must(http.StatusOK, req{method: "POST", path: payouts + "/Q1/approve", token: tokMainA})
	e.waitViews()
	r = e.must(http.StatusOK, req{method: "GET", path: payouts + "/Q1", token: tokSubA})
	require.Equal(t, "pending", r.json["status"])
	require.Equal(t, "admin", r.json["decided_by"])
	// It has no quota (that is why it asked for approval).
	r = e.must(http.StatusNotFound, req{method: "GET", path: shopA + "/staff/cs-1/quota", token: tokSubA})
	require.Equal(t, domain.CodeStaffUnknown, r.code())
}
