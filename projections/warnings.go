package projections

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// DuplicateWarningsName is the duplicate-compensation projection: every
// warning (dup.same_type, dup.refund_after_payout,
// dup.platform_shipping_refund) with the payouts and refund involved, open
// or acknowledged, and a summary per order and kind.
const DuplicateWarningsName = "duplicate_warnings"

// Warning states.
const (
	WarningOpen         = "open"
	WarningAcknowledged = "acknowledged"
)

// DuplicateWarning is one warning (table dup_warnings).
type DuplicateWarning struct {
	Shop           domain.ShopRef
	WarningID      string
	OrderID        string
	Kind           string // dup.same_type, dup.refund_after_payout, dup.platform_shipping_refund
	Rule           string // the platform rule that also speaks of it (pdd.refund.not_returned), if any
	PayoutIDs      []string
	NewPayoutID    string
	RefundID       string
	Amount         decimal.Decimal
	State          string // open or acknowledged
	WarnedAt       time.Time
	AcknowledgedBy string
	AcknowledgedAt *time.Time
}

// OrderWarnings summarises an order's warnings of one kind (table
// dup_orders).
type OrderWarnings struct {
	Shop         domain.ShopRef
	OrderID      string
	Kind         string
	Open         int64
	Acknowledged int64
	PayoutIDs    []string // every payout involved, sorted
	RefundIDs    []string // every refund involved, sorted
	LastAmount   decimal.Decimal
	LastWarnedAt time.Time
}

func warningsSchema() *Schema {
	return &Schema{Projection: DuplicateWarningsName, Version: 1, Tables: []Table{
		{
			Name: "dup_warnings", Doc: "every duplicate-compensation warning",
			Columns: cols(shopCols(), []Column{
				col("warning_id", Text, "the warning's ID in its shop (W1, W2, ...)"),
				col("order_id", Text, "the order"),
				col("kind", Text, "dup.same_type, dup.refund_after_payout or dup.platform_shipping_refund"),
				col("rule", Text, "the platform rule that also applies (e.g. pdd.refund.not_returned), or empty"),
				col("payout_ids", TextList, "the payouts involved (counting ones of the order, or of the type)"),
				col("new_payout_id", Text, "the payout that raised it (same type, platform shipping), or empty"),
				col("refund_id", Text, "the refund that raised it, or empty"),
				col("amount", Decimal, "sum of the payouts involved"),
				col("state", Text, "open or acknowledged"),
				col("warned_at", Time, "occurred-at of the warning"),
				col("acknowledged_by", Text, "who acknowledged it, or empty"),
				nullCol("acknowledged_at", Time, "when (NULL while open)"),
			}),
			Key: []string{"platform", "shop_id", "warning_id"},
		},
		{
			Name: "dup_orders", Doc: "warnings per order and kind",
			Columns: cols(shopCols(), []Column{
				col("order_id", Text, "the order"),
				col("kind", Text, "the warning kind"),
				col("open", Int, "warnings not acknowledged"),
				col("acknowledged", Int, "warnings acknowledged"),
				col("payout_ids", TextList, "every payout involved, sorted"),
				col("refund_ids", TextList, "every refund involved, sorted"),
				col("last_amount", Decimal, "amount of the latest warning"),
				col("last_warned_at", Time, "occurred-at of the latest warning"),
			}),
			Key: []string{"platform", "shop_id", "order_id", "kind"},
		},
	}}
}

// DuplicateWarnings is the duplicate-compensation projector.
type DuplicateWarnings struct {
	tableSet
	schema   *Schema
	warnings *table[DuplicateWarning]
	orders   *table[OrderWarnings]
}

// NewDuplicateWarnings is the Factory of the duplicate-compensation
// projection.
func NewDuplicateWarnings() Projector {
	s := warningsSchema()
	w := &DuplicateWarnings{schema: s}
	w.warnings = addTable(&w.tableSet, newTable(s.Table("dup_warnings"),
		func(v *DuplicateWarning) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.WarningID, v.OrderID, v.Kind, v.Rule, listOrEmpty(v.PayoutIDs),
				v.NewPayoutID, v.RefundID, v.Amount, v.State, UTC(v.WarnedAt), v.AcknowledgedBy, tmOrNil(v.AcknowledgedAt)}
		},
		func(r Row) (*DuplicateWarning, error) {
			return &DuplicateWarning{Shop: refOf(r), WarningID: str(r, 2), OrderID: str(r, 3), Kind: str(r, 4), Rule: str(r, 5),
				PayoutIDs: list(r, 6), NewPayoutID: str(r, 7), RefundID: str(r, 8), Amount: dec(r, 9), State: str(r, 10),
				WarnedAt: tm(r, 11), AcknowledgedBy: str(r, 12), AcknowledgedAt: tmPtr(r, 13)}, nil
		}))
	w.orders = addTable(&w.tableSet, newTable(s.Table("dup_orders"),
		func(v *OrderWarnings) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.OrderID, v.Kind, v.Open, v.Acknowledged,
				listOrEmpty(v.PayoutIDs), listOrEmpty(v.RefundIDs), v.LastAmount, UTC(v.LastWarnedAt)}
		},
		func(r Row) (*OrderWarnings, error) {
			return &OrderWarnings{Shop: refOf(r), OrderID: str(r, 2), Kind: str(r, 3), Open: i64(r, 4), Acknowledged: i64(r, 5),
				PayoutIDs: list(r, 6), RefundIDs: list(r, 7), LastAmount: dec(r, 8), LastWarnedAt: tm(r, 9)}, nil
		}))
	return w
}

// Schema implements Projector.
func (w *DuplicateWarnings) Schema() *Schema { return w.schema }

// Apply implements Projector.
func (w *DuplicateWarnings) Apply(e domain.Event) error {
	ref, err := shopOf(e)
	if err != nil {
		return err
	}
	switch d := e.Data.(type) {
	case domain.DuplicateCompensationWarned:
		at := UTC(e.OccurredAt)
		v := &DuplicateWarning{Shop: ref, WarningID: d.WarningID, OrderID: d.OrderID, Kind: d.Kind, Rule: d.Rule,
			PayoutIDs: listOrEmpty(d.PayoutIDs), NewPayoutID: d.NewPayoutID, RefundID: d.RefundID, Amount: d.Amount,
			State: WarningOpen, WarnedAt: at}
		if d.Acknowledged {
			// dup.same_type: the sender confirmed the duplicate with the
			// payout itself.
			v.State, v.AcknowledgedBy, v.AcknowledgedAt = WarningAcknowledged, e.Actor.ID, &at
		}
		*w.warnings.at(keyOf(ref, d.WarningID), newZero[DuplicateWarning]) = *v
		o := w.orders.at(keyOf(ref, d.OrderID, d.Kind), func() *OrderWarnings {
			return &OrderWarnings{Shop: ref, OrderID: d.OrderID, Kind: d.Kind}
		})
		if d.Acknowledged {
			o.Acknowledged++
		} else {
			o.Open++
		}
		o.PayoutIDs = union(o.PayoutIDs, append(append([]string{}, d.PayoutIDs...), d.NewPayoutID)...)
		o.RefundIDs = union(o.RefundIDs, d.RefundID)
		o.LastAmount, o.LastWarnedAt = d.Amount, at
	case domain.DuplicateWarningAcknowledged:
		v := w.warnings.get(keyOf(ref, d.WarningID))
		if v == nil || v.State == WarningAcknowledged {
			return nil
		}
		at := UTC(e.OccurredAt)
		v.State, v.AcknowledgedBy, v.AcknowledgedAt = WarningAcknowledged, d.By, &at
		w.warnings.touch(keyOf(ref, d.WarningID))
		if o := w.orders.get(keyOf(ref, v.OrderID, v.Kind)); o != nil {
			o.Open--
			o.Acknowledged++
			w.orders.touch(keyOf(ref, v.OrderID, v.Kind))
		}
	}
	return nil
}

// union adds the non-empty ids to a sorted set.
func union(set []string, ids ...string) []string {
	m := map[string]bool{}
	for _, s := range set {
		m[s] = true
	}
	for _, s := range ids {
		if s != "" {
			m[s] = true
		}
	}
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Order returns an order's warnings, oldest first (by warning ID order of
// creation: W1, W2, ...).
func (w *DuplicateWarnings) Order(ref domain.ShopRef, order string) []DuplicateWarning {
	var out []DuplicateWarning
	for _, v := range w.warnings.all() {
		if v.Shop == ref && v.OrderID == order {
			out = append(out, *v)
		}
	}
	sortWarnings(out)
	return out
}

// Open returns a shop's open warnings, oldest first.
func (w *DuplicateWarnings) Open(ref domain.ShopRef) []DuplicateWarning {
	var out []DuplicateWarning
	for _, v := range w.warnings.all() {
		if v.Shop == ref && v.State == WarningOpen {
			out = append(out, *v)
		}
	}
	sortWarnings(out)
	return out
}

// Summary returns an order's per-kind summaries, by kind.
func (w *DuplicateWarnings) Summary(ref domain.ShopRef, order string) []OrderWarnings {
	var out []OrderWarnings
	for _, v := range w.orders.all() {
		if v.Shop == ref && v.OrderID == order {
			out = append(out, *v)
		}
	}
	return out
}

func sortWarnings(ws []DuplicateWarning) {
	sort.SliceStable(ws, func(i, j int) bool {
		if !ws[i].WarnedAt.Equal(ws[j].WarnedAt) {
			return ws[i].WarnedAt.Before(ws[j].WarnedAt)
		}
		return len(ws[i].WarningID) < len(ws[j].WarningID) ||
			len(ws[i].WarningID) == len(ws[j].WarningID) && ws[i].WarningID < ws[j].WarningID
	})
}
