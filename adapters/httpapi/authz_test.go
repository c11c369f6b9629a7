package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payoutledger/ledger/adapters/httpapi"
	"github.com/payoutledger/ledger/adapters/tokens"
	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/projections"
)

const (
	M = domain.RoleMain
	S = domain.RoleSub
	O = domain.RoleOperator
)

// whoMay is written by hand: commands from RULES.md and docs/rules.md
// section 8 ("Who may send what"; the system role has no token), reads
// from the read policy of docs/openapi.yaml (balances and totals are
// finance data: main and operators; everything else main, sub and
// operators, a sub-account seeing its own rows only).
var whoMay = map[string][]domain.Role{
	"POST /v1/shops": {O},
	"POST /v1/shops/{platform}/{shop}/enrollment":                               {M, S}, // sub re-checked by the decision
	"POST /v1/shops/{platform}/{shop}/enrollment/disable":                       {M, O},
	"PUT /v1/shops/{platform}/{shop}/limits":                                    {M},
	"PUT /v1/shops/{platform}/{shop}/standing":                                  {O},
	"POST /v1/shops/{platform}/{shop}/accounts":                                 {M, O},
	"POST /v1/shops/{platform}/{shop}/accounts/{kind}/top-ups":                  {M},
	"POST /v1/shops/{platform}/{shop}/accounts/proceeds/credits":                {O},
	"POST /v1/shops/{platform}/{shop}/accounts/{kind}/freeze":                   {O},
	"POST /v1/shops/{platform}/{shop}/accounts/{kind}/unfreeze":                 {O},
	"PUT /v1/shops/{platform}/{shop}/accounts/{kind}/arrears":                   {O},
	"GET /v1/shops/{platform}/{shop}/balances":                                  {M, O},
	"POST /v1/shops/{platform}/{shop}/staff/{staff}/quota":                      {M, S},
	"PUT /v1/shops/{platform}/{shop}/staff/{staff}/quota":                       {M, S},
	"DELETE /v1/shops/{platform}/{shop}/staff/{staff}/quota":                    {M, S},
	"POST /v1/shops/{platform}/{shop}/staff/{staff}/quota/disable":              {M, S},
	"POST /v1/shops/{platform}/{shop}/staff/{staff}/quota/enable":               {M, S},
	"GET /v1/shops/{platform}/{shop}/staff/{staff}/quota":                       {M, S, O},
	"GET /v1/shops/{platform}/{shop}/quota":                                     {M, S, O},
	"PUT /v1/shops/{platform}/{shop}/orders/{order}":                            {O},
	"POST /v1/shops/{platform}/{shop}/orders/{order}/refunds":                   {O},
	"POST /v1/shops/{platform}/{shop}/orders/{order}/platform-shipping-refunds": {O},
	"GET /v1/shops/{platform}/{shop}/orders/{order}/warnings":                   {M, S, O},
	"POST /v1/shops/{platform}/{shop}/payouts":                                  {M, S},
	"GET /v1/shops/{platform}/{shop}/payouts":                                   {M, S, O},
	"GET /v1/shops/{platform}/{shop}/payouts.csv":                               {M, S, O},
	"GET /v1/shops/{platform}/{shop}/payouts/{payout}":                          {M, S, O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/approve":                 {M, S},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/reject":                  {M, S},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/top-up":                  {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/top-up/expire":           {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/processing":              {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/succeeded":               {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/failed":                  {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/buyer-account":           {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/account-card/resend":     {M, S},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/confirm":                 {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/card/expire":             {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/close":                   {O},
	"POST /v1/shops/{platform}/{shop}/payouts/{payout}/refund-to-merchant":      {O},
	"GET /v1/shops/{platform}/{shop}/approvals":                                 {M, S, O},
	"POST /v1/shops/{platform}/{shop}/collections":                              {M, S},
	"POST /v1/shops/{platform}/{shop}/collections/{collection}/pay":             {O},
	"POST /v1/shops/{platform}/{shop}/collections/{collection}/cancel":          {M, S},
	"POST /v1/shops/{platform}/{shop}/collections/{collection}/expire":          {O},
	"GET /v1/shops/{platform}/{shop}/warnings":                                  {M, S, O},
	"POST /v1/shops/{platform}/{shop}/warnings/{warning}/acknowledge":           {M, S},
	"GET /v1/shops/{platform}/{shop}/totals":                                    {M, O},
}

// decisionMainOnly: routes open to sub-accounts at the edge whose decision
// refuses a sub-account with auth.forbidden on PDD (docs/rules.md section
// 8, "Re-checked in the decision": EnrollShop without an agreement code).
var decisionMainOnly = map[string]bool{"POST /v1/shops/{platform}/{shop}/enrollment": true}

func key(r httpapi.Route) string { return r.Method + " " + r.Pattern }

func TestRoutesRolesMatchTheHandWrittenTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range httpapi.Routes() {
		k := key(r)
		require.False(t, seen[k], "route %s twice", k)
		seen[k] = true
		want, ok := whoMay[k]
		require.True(t, ok, "route %s is not in the hand-written table", k)
		require.ElementsMatch(t, want, r.Roles, "roles of %s", k)
		require.True(t, (r.Command == "") != (r.View == ""), "%s: a command or a view", k)
		if r.Command != "" {
			var noSystem []domain.Role
			for _, role := range domain.AllowedRoles(r.Command) {
				if role != domain.RoleSystem {
					noSystem = append(noSystem, role)
				}
			}
			require.ElementsMatch(t, noSystem, r.Roles, "%s: roles are domain.AllowedRoles(%s) without system", k, r.Command)
		}
	}
	require.Len(t, seen, len(whoMay), "every hand-written route exists")
}

// TestEveryCommandAndProjectionHasARoute: every command of domain/commands.go
// and every projection of projections.All() is reachable.
func TestEveryCommandAndProjectionHasARoute(t *testing.T) {
	commands := []string{"RegisterShop", "EnrollShop", "SetShopLimits", "DisableTool", "UpdateShopStanding",
		"OpenFundingAccount", "TopUp", "CreditProceeds", "FreezeFunds", "UnfreezeFunds", "SetArrears",
		"GrantStaffQuota", "ChangeStaffQuota", "DisableStaffQuota", "EnableStaffQuota", "DeleteStaffQuota",
		"RegisterOrder", "RecordOrderRefund", "RecordPlatformShippingRefund", "InitiatePayout", "ApprovePayout",
		"RejectPayout", "CompleteTopUp", "ExpireTopUp", "MarkPayoutProcessing", "MarkPayoutSucceeded",
		"MarkPayoutFailed", "SubmitBuyerAccount", "ResendAccountCard", "ConfirmByBuyer", "ExpireCard",
		"ClosePayout", "RefundToMerchant", "SendCollectionCard", "PayCollection", "CancelCard",
		"AcknowledgeDuplicateWarning"}
	have := map[string]bool{}
	for _, r := range httpapi.Routes() {
		have[r.Command], have[r.View] = true, true
	}
	for _, c := range commands {
		require.True(t, have[c], "command %s has no route", c)
		require.NotEmpty(t, domain.AllowedRoles(c), "%s is a domain command", c)
	}
	for _, f := range projections.All() {
		name := f().Schema().Projection
		require.True(t, have[name], "projection %s has no route", name)
	}
}

type principal struct {
	name  string
	token string
	p     *tokens.Principal // nil: no valid token
	want  int               // the status when p is nil
}

// pathFor fills a pattern's wildcards for shop A on PDD.
func pathFor(pattern string) string {
	return strings.NewReplacer("{platform}", "pdd", "{shop}", "shop-a", "{payout}", "P1", "{staff}", "cs-1",
		"{order}", "O1", "{kind}", "proceeds", "{collection}", "K1", "{warning}", "W1").Replace(pattern)
}

// TestAuthorizationMatrix: every route x every principal. Refusals are
// 401/403 with their code and append nothing; an allowed principal gets
// past authorization (whatever the decision then says).
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	e.setupShops()
	var ps []principal
	for _, c := range []struct{ name, tok string }{
		{"main of the shop", tokMainA}, {"sub of the shop", tokSubA}, {"main of another shop", tokMainB},
		{"sub of another shop", tokSubB}, {"operator of the platform", tokOpPDD},
		{"operator of another platform", tokOpJD}, {"all-platform operator", tokOpAll},
	} {
		p := e.auth[c.tok]
		ps = append(ps, principal{name: c.name, token: c.tok, p: &p})
	}
	ps = append(ps, principal{name: "no token", want: http.StatusUnauthorized},
		principal{name: "malformed token", token: tokMalformed, want: http.StatusUnauthorized},
		principal{name: "unknown token", token: tokUnknown, want: http.StatusUnauthorized})

	shopA := domain.ShopRef{Platform: domain.PlatformPDD, ShopID: "shop-a"}
	for _, r := range httpapi.Routes() {
		k := key(r)
		for i, pr := range ps {
			t.Run(k+"/"+pr.name, func(t *testing.T) {
				q := req{method: r.Method, path: pathFor(r.Pattern), token: pr.token}
				target := shopA
				if r.Pattern == "/v1/shops" {
					target = domain.ShopRef{Platform: domain.PlatformPDD, ShopID: "new-" + itoa(i)}
					q.body = `{"platform":"pdd","shop_id":"` + target.ShopID + `","name":"New","main_account":"admin"}`
				}
				before := e.head()
				got := e.do(q)
				// The hand-written expectation.
				wantStatus, wantCode := 0, ""
				switch {
				case pr.p == nil:
					wantStatus = pr.want
					wantCode = httpapi.CodeInvalidToken
					if pr.token == "" {
						wantCode = httpapi.CodeMissingToken
					}
				case r.Pattern == "/v1/shops" && !slices.Contains(whoMay[k], pr.p.Actor().Role):
					wantStatus, wantCode = http.StatusForbidden, httpapi.CodeForbidden
				case !reaches(pr.p, target):
					wantStatus, wantCode = http.StatusForbidden, httpapi.CodeShopForbidden
				case !slices.Contains(whoMay[k], pr.p.Actor().Role):
					wantStatus, wantCode = http.StatusForbidden, httpapi.CodeForbidden
				case decisionMainOnly[k] && pr.p.Role == domain.RoleSub:
					wantStatus, wantCode = http.StatusForbidden, domain.CodeAuthForbidden
				}
				if wantStatus != 0 {
					require.Equal(t, wantStatus, got.status, "%s", got.raw)
					require.Equal(t, wantCode, got.code(), "%s", got.raw)
					require.Equal(t, before, e.head(), "a refused request appended events")
					if wantStatus == http.StatusUnauthorized {
						require.True(t, strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer"))
					}
					return
				}
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusInternalServerError},
					got.status, "allowed principal refused: %s", got.raw)
			})
		}
	}
}

// reaches is written from RULES.md: staff reach their own shop, an
// operator its platform's shops or every shop.
func reaches(p *tokens.Principal, s domain.ShopRef) bool {
	if p.Kind == tokens.KindStaff {
		return p.Platform == s.Platform && p.ShopID == s.ShopID
	}
	return p.Platform == "" || p.Platform == s.Platform
}
