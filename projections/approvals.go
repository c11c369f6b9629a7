package projections

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// ApprovalsName is the approvals-queue projection (PDD admin approval):
// every payout a staff account submitted for approval, pending until an
// admin approves or rejects it (or it closes after 7 days). Admins list a
// shop's pending requests; staff list their own.
const ApprovalsName = "approvals"

// Approval request states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
	ApprovalClosed   = "closed" // closed while still awaiting approval
)

// ApprovalRequest is one payout submitted for approval (table
// approval_requests).
type ApprovalRequest struct {
	Shop         domain.ShopRef
	PayoutID     string
	OrderID      string
	Staff        string
	Type         domain.PayoutType
	Amount       decimal.Decimal
	Reason       string
	State        string
	RequestedAt  time.Time
	DecidedBy    string
	DecidedAt    *time.Time
	RejectReason string
}

func approvalsSchema() *Schema {
	return &Schema{Projection: ApprovalsName, Version: 1, Tables: []Table{{
		Name: "approval_requests", Doc: "payouts submitted for admin approval (PDD)",
		Columns: cols(shopCols(), []Column{
			col("payout_id", Text, "the payout awaiting (or past) approval"),
			col("order_id", Text, "its order"),
			col("staff", Text, "the staff account that submitted it"),
			col("payout_type", Text, "payout type"),
			col("amount", Decimal, "CNY"),
			col("reason", Text, "reason given"),
			col("state", Text, "pending, approved, rejected, closed"),
			col("requested_at", Time, "when it was submitted"),
			col("decided_by", Text, "the admin who decided, or empty"),
			nullCol("decided_at", Time, "when it was decided or closed (NULL while pending)"),
			col("reject_reason", Text, "the admin's reason for a rejection, or empty"),
		}),
		Key: []string{"platform", "shop_id", "payout_id"},
	}}}
}

// Approvals is the approvals-queue projector.
type Approvals struct {
	tableSet
	schema   *Schema
	requests *table[ApprovalRequest]
}

// NewApprovals is the Factory of the approvals-queue projection.
func NewApprovals() Projector {
	s := approvalsSchema()
	a := &Approvals{schema: s}
	a.requests = addTable(&a.tableSet, newTable(s.Table("approval_requests"),
		func(v *ApprovalRequest) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.PayoutID, v.OrderID, v.Staff, string(v.Type), v.Amount, v.Reason,
				v.State, UTC(v.RequestedAt), v.DecidedBy, tmOrNil(v.DecidedAt), v.RejectReason}
		},
		func(r Row) (*ApprovalRequest, error) {
			return &ApprovalRequest{Shop: refOf(r), PayoutID: str(r, 2), OrderID: str(r, 3), Staff: str(r, 4), Type: domain.PayoutType(str(r, 5)),
				Amount: dec(r, 6), Reason: str(r, 7), State: str(r, 8), RequestedAt: tm(r, 9), DecidedBy: str(r, 10),
				DecidedAt: tmPtr(r, 11), RejectReason: str(r, 12)}, nil
		}))
	return a
}

// Schema implements Projector.
func (a *Approvals) Schema() *Schema { return a.schema }

// Apply implements Projector.
func (a *Approvals) Apply(e domain.Event) error {
	ref, err := shopOf(e)
	if err != nil {
		return err
	}
	at := UTC(e.OccurredAt)
	decide := func(id, state, by, reason string) {
		k := keyOf(ref, id)
		if v := a.requests.get(k); v != nil && v.State == ApprovalPending {
			v.State, v.DecidedBy, v.DecidedAt, v.RejectReason = state, by, &at, reason
			a.requests.touch(k)
		}
	}
	switch d := e.Data.(type) {
	case domain.PayoutInitiated:
		if d.Route != domain.RouteApproval {
			return nil
		}
		*a.requests.at(keyOf(ref, d.PayoutID), newZero[ApprovalRequest]) = ApprovalRequest{Shop: ref, PayoutID: d.PayoutID,
			OrderID: d.OrderID, Staff: d.Staff, Type: d.Type, Amount: d.Amount, Reason: d.Reason, State: ApprovalPending,
			RequestedAt: UTC(d.InitiatedAt)}
	case domain.PayoutApproved:
		decide(d.PayoutID, ApprovalApproved, d.By, "")
	case domain.PayoutRejected:
		decide(d.PayoutID, ApprovalRejected, d.By, d.Reason)
	case domain.PayoutClosed:
		decide(d.PayoutID, ApprovalClosed, "", "")
	}
	return nil
}

// Pending returns a shop's requests awaiting an admin, oldest first.
func (a *Approvals) Pending(ref domain.ShopRef) []ApprovalRequest {
	return a.list(func(v *ApprovalRequest) bool { return v.Shop == ref && v.State == ApprovalPending })
}

// ByStaff returns the requests a staff account submitted in a shop, in
// every state, oldest first.
func (a *Approvals) ByStaff(ref domain.ShopRef, staff string) []ApprovalRequest {
	return a.list(func(v *ApprovalRequest) bool { return v.Shop == ref && v.Staff == staff })
}

func (a *Approvals) list(keep func(*ApprovalRequest) bool) []ApprovalRequest {
	var out []ApprovalRequest
	for _, v := range a.requests.all() {
		if keep(v) {
			out = append(out, *v)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].RequestedAt.Equal(out[j].RequestedAt) {
			return out[i].RequestedAt.Before(out[j].RequestedAt)
		}
		return out[i].PayoutID < out[j].PayoutID
	})
	return out
}
