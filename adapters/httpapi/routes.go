package httpapi

import (
	"net/http"
	"slices"

	"github.com/payoutledger/ledger/domain"
	"github.com/payoutledger/ledger/projections"
)

// Route is one endpoint of the API: a method and a Go 1.22 ServeMux
// pattern under /v1/, and either the domain command it sends or the
// projection it reads.
type Route struct {
	Method  string
	Pattern string // e.g. "/v1/shops/{platform}/{shop}/payouts"
	Command string // domain command name (commands), or ""
	View    string // projection name (reads), or ""
	// Roles that may use the route. Commands: domain.AllowedRoles minus
	// system (no token speaks for the timers). Reads: see docs/openapi.yaml.
	Roles []domain.Role
	// Status of a success: 201 for a POST that creates a resource in a
	// collection, 200 for everything else.
	Status int
}

const shopBase = "/v1/shops/{platform}/{shop}"

// route is a Route with what serves it.
type route struct {
	Route
	params []string // path wildcards besides platform and shop
	// decode builds the command from its body and path (commands).
	decode func(body []byte, b *binder) (domain.Command, error)
	// location, if set, is the Location of a created resource.
	location func(cmd domain.Command) string
	// read answers a query (views).
	read func(a *API, w http.ResponseWriter, r *http.Request, q *query) error
}

var (
	staffAndOps = []domain.Role{domain.RoleMain, domain.RoleSub, domain.RoleOperator}
	mainAndOps  = []domain.Role{domain.RoleMain, domain.RoleOperator}
)

// command builds the route of command T. bind copies the path values into
// the command (refusing a body value that contradicts one).
func command[T domain.Command](method, pattern string, status int, bind func(*T, *binder)) *route {
	var z T
	name := z.CommandName()
	roles := slices.DeleteFunc(slices.Clone(domain.AllowedRoles(name)), func(r domain.Role) bool { return r == domain.RoleSystem })
	return &route{
		Route:  Route{Method: method, Pattern: pattern, Command: name, Roles: roles, Status: status},
		params: wildcards(pattern),
		decode: func(body []byte, b *binder) (domain.Command, error) {
			var c T
			if err := decodeJSON(body, &c); err != nil {
				return nil, err
			}
			bind(&c, b)
			if b.err != nil {
				return nil, b.err
			}
			return c, nil
		},
	}
}

func view(method, pattern, projection string, roles []domain.Role, read func(a *API, w http.ResponseWriter, r *http.Request, q *query) error) *route {
	return &route{
		Route:  Route{Method: method, Pattern: pattern, View: projection, Roles: roles, Status: http.StatusOK},
		params: wildcards(pattern),
		read:   read,
	}
}

// wildcards lists a pattern's wildcards other than platform and shop.
func wildcards(pattern string) []string {
	var out []string
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(pattern) && pattern[j] != '}' {
			j++
		}
		if n := pattern[i+1 : j]; n != "platform" && n != "shop" {
			out = append(out, n)
		}
		i = j
	}
	return out
}

func withLocation(rt *route, loc func(domain.Command) string) *route {
	rt.location = loc
	return rt
}

const (
	created = http.StatusCreated
	ok      = http.StatusOK
)

// table is every route of the API. The order is the documentation's.
var table = []*route{
	// shops
	withLocation(command("POST", "/v1/shops", created, func(c *domain.RegisterShop, b *binder) {}),
		func(c domain.Command) string {
			s := c.Shop()
			return "/v1/shops/" + string(s.Platform) + "/" + s.ShopID
		}),
	command("POST", shopBase+"/enrollment", ok, func(c *domain.EnrollShop, b *binder) { b.ref(&c.Ref) }),
	command("POST", shopBase+"/enrollment/disable", ok, func(c *domain.DisableTool, b *binder) { b.ref(&c.Ref) }),
	command("PUT", shopBase+"/limits", ok, func(c *domain.SetShopLimits, b *binder) { b.ref(&c.Ref) }),
	command("PUT", shopBase+"/standing", ok, func(c *domain.UpdateShopStanding, b *binder) { b.ref(&c.Ref) }),

	// funding accounts
	command("POST", shopBase+"/accounts", created, func(c *domain.OpenFundingAccount, b *binder) { b.ref(&c.Ref) }),
	command("POST", shopBase+"/accounts/{kind}/top-ups", ok, func(c *domain.TopUp, b *binder) {
		b.ref(&c.Ref)
		b.kind(&c.Kind)
	}),
	command("POST", shopBase+"/accounts/proceeds/credits", ok, func(c *domain.CreditProceeds, b *binder) { b.ref(&c.Ref) }),
	command("POST", shopBase+"/accounts/{kind}/freeze", ok, func(c *domain.FreezeFunds, b *binder) {
		b.ref(&c.Ref)
		b.kind(&c.Kind)
	}),
	command("POST", shopBase+"/accounts/{kind}/unfreeze", ok, func(c *domain.UnfreezeFunds, b *binder) {
		b.ref(&c.Ref)
		b.kind(&c.Kind)
	}),
	command("PUT", shopBase+"/accounts/{kind}/arrears", ok, func(c *domain.SetArrears, b *binder) {
		b.ref(&c.Ref)
		b.kind(&c.Kind)
	}),
	view("GET", shopBase+"/balances", projections.FundingBalancesName, mainAndOps, readBalances),

	// staff quotas
	withLocation(command("POST", shopBase+"/staff/{staff}/quota", created, func(c *domain.GrantStaffQuota, b *binder) {
		b.ref(&c.Ref)
		b.str("staff", "staff", &c.Staff)
	}), func(c domain.Command) string {
		g := c.(domain.GrantStaffQuota)
		return shopPath(g.Shop()) + "/staff/" + g.Staff + "/quota"
	}),
	command("PUT", shopBase+"/staff/{staff}/quota", ok, func(c *domain.ChangeStaffQuota, b *binder) {
		b.ref(&c.Ref)
		b.str("staff", "staff", &c.Staff)
	}),
	command("DELETE", shopBase+"/staff/{staff}/quota", ok, func(c *domain.DeleteStaffQuota, b *binder) {
		b.ref(&c.Ref)
		b.str("staff", "staff", &c.Staff)
	}),
	command("POST", shopBase+"/staff/{staff}/quota/disable", ok, func(c *domain.DisableStaffQuota, b *binder) {
		b.ref(&c.Ref)
		b.str("staff", "staff", &c.Staff)
	}),
	command("POST", shopBase+"/staff/{staff}/quota/enable", ok, func(c *domain.EnableStaffQuota, b *binder) {
		b.ref(&c.Ref)
		b.str("staff", "staff", &c.Staff)
	}),
	view("GET", shopBase+"/staff/{staff}/quota", projections.QuotaUsageName, staffAndOps, readStaffQuota),
	view("GET", shopBase+"/quota", projections.QuotaUsageName, staffAndOps, readShopQuota),

	// orders
	command("PUT", shopBase+"/orders/{order}", ok, func(c *domain.RegisterOrder, b *binder) {
		b.ref(&c.Ref)
		b.str("order", "order_id", &c.OrderID)
	}),
	command("POST", shopBase+"/orders/{order}/refunds", created, func(c *domain.RecordOrderRefund, b *binder) {
		b.ref(&c.Ref)
		b.str("order", "order_id", &c.OrderID)
	}),
	command("POST", shopBase+"/orders/{order}/platform-shipping-refunds", created, func(c *domain.RecordPlatformShippingRefund, b *binder) {
		b.ref(&c.Ref)
		b.str("order", "order_id", &c.OrderID)
	}),
	view("GET", shopBase+"/orders/{order}/warnings", projections.DuplicateWarningsName, staffAndOps, readOrderWarnings),

	// payouts
	withLocation(command("POST", shopBase+"/payouts", created, func(c *domain.InitiatePayout, b *binder) { b.ref(&c.Ref) }),
		func(c domain.Command) string {
			p := c.(domain.InitiatePayout)
			return shopPath(p.Shop()) + "/payouts/" + p.PayoutID
		}),
	view("GET", shopBase+"/payouts", projections.PayoutRecordsName, staffAndOps, readRecords),
	view("GET", shopBase+"/payouts.csv", projections.PayoutRecordsName, staffAndOps, readRecordsCSV),
	view("GET", shopBase+"/payouts/{payout}", projections.PayoutRecordsName, staffAndOps, readRecord),
	payoutCommand[domain.ApprovePayout]("approve", func(c *domain.ApprovePayout) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.RejectPayout]("reject", func(c *domain.RejectPayout) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.CompleteTopUp]("top-up", func(c *domain.CompleteTopUp) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.ExpireTopUp]("top-up/expire", func(c *domain.ExpireTopUp) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.MarkPayoutProcessing]("processing", func(c *domain.MarkPayoutProcessing) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.MarkPayoutSucceeded]("succeeded", func(c *domain.MarkPayoutSucceeded) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.MarkPayoutFailed]("failed", func(c *domain.MarkPayoutFailed) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.SubmitBuyerAccount]("buyer-account", func(c *domain.SubmitBuyerAccount) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.ResendAccountCard]("account-card/resend", func(c *domain.ResendAccountCard) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.ConfirmByBuyer]("confirm", func(c *domain.ConfirmByBuyer) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	command("POST", shopBase+"/payouts/{payout}/card/expire", ok, func(c *domain.ExpireCard, b *binder) {
		b.ref(&c.Ref)
		b.str("payout", "id", &c.ID)
	}),
	payoutCommand[domain.ClosePayout]("close", func(c *domain.ClosePayout) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	payoutCommand[domain.RefundToMerchant]("refund-to-merchant", func(c *domain.RefundToMerchant) (*domain.Ref, *string) { return &c.Ref, &c.PayoutID }),
	view("GET", shopBase+"/approvals", projections.ApprovalsName, staffAndOps, readApprovals),

	// collections (Taobao)
	command("POST", shopBase+"/collections", created, func(c *domain.SendCollectionCard, b *binder) { b.ref(&c.Ref) }),
	command("POST", shopBase+"/collections/{collection}/pay", ok, func(c *domain.PayCollection, b *binder) {
		b.ref(&c.Ref)
		b.str("collection", "collection_id", &c.CollectionID)
	}),
	command("POST", shopBase+"/collections/{collection}/cancel", ok, func(c *domain.CancelCard, b *binder) {
		b.ref(&c.Ref)
		b.str("collection", "collection_id", &c.CollectionID)
	}),
	command("POST", shopBase+"/collections/{collection}/expire", ok, func(c *domain.ExpireCard, b *binder) {
		b.ref(&c.Ref)
		b.str("collection", "id", &c.ID)
	}),

	// duplicate-compensation warnings, totals
	view("GET", shopBase+"/warnings", projections.DuplicateWarningsName, staffAndOps, readWarnings),
	command("POST", shopBase+"/warnings/{warning}/acknowledge", ok, func(c *domain.AcknowledgeDuplicateWarning, b *binder) {
		b.ref(&c.Ref)
		b.str("warning", "warning_id", &c.WarningID)
	}),
	view("GET", shopBase+"/totals", projections.DailyTotalsName, mainAndOps, readTotals),
}

// payoutCommand is the route of a lifecycle step on one payout:
// POST .../payouts/{payout}/<action>.
func payoutCommand[T domain.Command](action string, fields func(*T) (*domain.Ref, *string)) *route {
	return command("POST", shopBase+"/payouts/{payout}/"+action, ok, func(c *T, b *binder) {
		ref, id := fields(c)
		b.ref(ref)
		b.str("payout", "payout_id", id)
	})
}

func shopPath(s domain.ShopRef) string { return "/v1/shops/" + string(s.Platform) + "/" + s.ShopID }

// Routes returns every route of the API (a copy), in documentation order.
func Routes() []Route {
	out := make([]Route, len(table))
	for i, rt := range table {
		out[i] = rt.Route
		out[i].Roles = slices.Clone(rt.Roles)
	}
	return out
}
