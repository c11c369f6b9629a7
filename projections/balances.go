package projections

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/payoutledger/ledger/domain"
)

// FundingBalancesName is the funding-balances projection: per shop and
// account kind, the balance, what is frozen, what pending payouts hold,
// what is available for a new payout (balance - frozen - held) and the
// arrears. It follows the same rules as the decision state (domain.Apply):
// a payout holds its amount from initiation (or approval) until it
// succeeds (the balance is debited), ends unpaid, or its money is refunded
// to the merchant after a close.
const FundingBalancesName = "funding_balances"

// Balance is one funding account (table funding_balances).
type Balance struct {
	Shop      domain.ShopRef
	Kind      domain.AccountKind
	Balance   decimal.Decimal
	Frozen    decimal.Decimal
	Held      decimal.Decimal
	Arrears   decimal.Decimal
	OpenedAt  time.Time
	UpdatedAt time.Time
}

// Available is what a new payout may use: balance - frozen - held.
func (b *Balance) Available() decimal.Decimal { return b.Balance.Sub(b.Frozen).Sub(b.Held) }

// fundingHold is a payout that holds, or may later hold, funds (internal
// table funding_holds).
type fundingHold struct {
	Shop     domain.ShopRef
	PayoutID string
	Kind     domain.AccountKind
	Amount   decimal.Decimal
	Held     bool
}

func balancesSchema() *Schema {
	return &Schema{Projection: FundingBalancesName, Version: 1, Tables: []Table{
		{
			Name: "funding_balances", Doc: "funding accounts: balance, frozen, held by pending payouts, available, arrears",
			Columns: cols(shopCols(), []Column{
				col("kind", Text, "reserve, proceeds or wallet"),
				col("balance", Decimal, "money on the account"),
				col("frozen", Decimal, "frozen by the platform"),
				col("held", Decimal, "reserved by payouts not yet settled"),
				col("available", Decimal, "balance - frozen - held: what a new payout may use"),
				col("arrears", Decimal, "the merchant account's arrears (JD: no payout while positive)"),
				col("opened_at", Time, "when the account was opened"),
				col("updated_at", Time, "occurred-at of the last change"),
			}),
			Key: []string{"platform", "shop_id", "kind"},
		},
		{
			Name: "funding_holds", Internal: true, Doc: "payouts holding, or still able to hold, funds",
			Columns: cols(shopCols(), []Column{
				col("payout_id", Text, ""), col("kind", Text, ""), col("amount", Decimal, ""), col("held", Bool, ""),
			}),
			Key: []string{"platform", "shop_id", "payout_id"},
		},
	}}
}

// FundingBalances is the funding-balances projector.
type FundingBalances struct {
	tableSet
	schema   *Schema
	accounts *table[Balance]
	holds    *table[fundingHold]
}

// NewFundingBalances is the Factory of the funding-balances projection.
func NewFundingBalances() Projector {
	s := balancesSchema()
	f := &FundingBalances{schema: s}
	f.accounts = addTable(&f.tableSet, newTable(s.Table("funding_balances"),
		func(v *Balance) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, string(v.Kind), v.Balance, v.Frozen, v.Held, v.Available(), v.Arrears,
				UTC(v.OpenedAt), UTC(v.UpdatedAt)}
		},
		func(r Row) (*Balance, error) {
			return &Balance{Shop: refOf(r), Kind: domain.AccountKind(str(r, 2)), Balance: dec(r, 3), Frozen: dec(r, 4), Held: dec(r, 5),
				Arrears: dec(r, 7), OpenedAt: tm(r, 8), UpdatedAt: tm(r, 9)}, nil
		}))
	f.holds = addTable(&f.tableSet, newTable(s.Table("funding_holds"),
		func(v *fundingHold) Row {
			return Row{string(v.Shop.Platform), v.Shop.ShopID, v.PayoutID, string(v.Kind), v.Amount, v.Held}
		},
		func(r Row) (*fundingHold, error) {
			return &fundingHold{Shop: refOf(r), PayoutID: str(r, 2), Kind: domain.AccountKind(str(r, 3)), Amount: dec(r, 4), Held: boolean(r, 5)}, nil
		}))
	return f
}

// Schema implements Projector.
func (f *FundingBalances) Schema() *Schema { return f.schema }

// Apply implements Projector.
func (f *FundingBalances) Apply(e domain.Event) error {
	ref, err := shopOf(e)
	if err != nil {
		return err
	}
	at := UTC(e.OccurredAt)
	// account returns an open account for update (nil if not opened).
	account := func(kind domain.AccountKind) *Balance {
		k := keyOf(ref, string(kind))
		a := f.accounts.get(k)
		if a != nil {
			a.UpdatedAt = at
			f.accounts.touch(k)
		}
		return a
	}
	hold := func(id string) {
		h := f.holds.get(keyOf(ref, id))
		if h == nil || h.Held {
			return
		}
		if a := account(h.Kind); a != nil {
			a.Held = a.Held.Add(h.Amount)
			h.Held = true
			f.holds.touch(keyOf(ref, id))
		}
	}
	// release gives back what the payout held; done forgets it.
	release := func(id string, done bool) {
		h := f.holds.get(keyOf(ref, id))
		if h == nil {
			return
		}
		if h.Held {
			if a := account(h.Kind); a != nil {
				a.Held = a.Held.Sub(h.Amount)
			}
			h.Held = false
			f.holds.touch(keyOf(ref, id))
		}
		if done {
			f.holds.del(keyOf(ref, id))
		}
	}
	settle := func(id string) {
		if h := f.holds.get(keyOf(ref, id)); h != nil && h.Held {
			if a := account(h.Kind); a != nil {
				a.Held = a.Held.Sub(h.Amount)
				a.Balance = a.Balance.Sub(h.Amount)
			}
		}
		f.holds.del(keyOf(ref, id))
	}
	switch d := e.Data.(type) {
	case domain.FundingAccountOpened:
		*f.accounts.at(keyOf(ref, string(d.Kind)), newZero[Balance]) = Balance{Shop: ref, Kind: d.Kind, OpenedAt: at, UpdatedAt: at}
	case domain.FundsToppedUp:
		if a := account(d.Kind); a != nil {
			a.Balance = a.Balance.Add(d.Amount)
		}
	case domain.ProceedsCredited:
		if a := account(domain.AccountProceeds); a != nil {
			a.Balance = a.Balance.Add(d.Amount)
		}
	case domain.FundsFrozen:
		if a := account(d.Kind); a != nil {
			a.Frozen = a.Frozen.Add(d.Amount)
		}
	case domain.FundsUnfrozen:
		if a := account(d.Kind); a != nil {
			a.Frozen = a.Frozen.Sub(d.Amount)
		}
	case domain.ArrearsChanged:
		if a := account(d.Kind); a != nil {
			a.Arrears = d.New
		}

	case domain.PayoutInitiated:
		if d.Funding == domain.FundingScan {
			return nil // paid by QR code: no account involved
		}
		*f.holds.at(keyOf(ref, d.PayoutID), newZero[fundingHold]) = fundingHold{Shop: ref, PayoutID: d.PayoutID, Kind: d.Funding, Amount: d.Amount}
		if d.HoldsFunds {
			hold(d.PayoutID)
		}
	case domain.PayoutApproved:
		hold(d.PayoutID)
	case domain.PayoutSucceeded:
		settle(d.PayoutID)
	case domain.PayoutConfirmedByBuyer:
		settle(d.PayoutID)
	case domain.PayoutRejected:
		release(d.PayoutID, true)
	case domain.PayoutTopUpFailed:
		release(d.PayoutID, true)
	case domain.PayoutFailed:
		release(d.PayoutID, true)
	case domain.CardExpired:
		if d.Card == "confirmation" {
			release(d.ID, true)
		}
	case domain.PayoutClosed:
		// The money stays held until it is refunded to the merchant; a
		// payout that held nothing has nothing left to do.
		if h := f.holds.get(keyOf(ref, d.PayoutID)); h != nil && !h.Held {
			f.holds.del(keyOf(ref, d.PayoutID))
		}
	case domain.PayoutRefundedToMerchant:
		release(d.PayoutID, true)
	}
	return nil
}

// Shop returns a shop's funding accounts, by kind.
func (f *FundingBalances) Shop(ref domain.ShopRef) []Balance {
	var out []Balance
	for _, v := range f.accounts.all() {
		if v.Shop == ref {
			out = append(out, *v)
		}
	}
	return out
}

// Account returns one account (false: not opened).
func (f *FundingBalances) Account(ref domain.ShopRef, kind domain.AccountKind) (Balance, bool) {
	if v := f.accounts.get(keyOf(ref, string(kind))); v != nil {
		return *v, true
	}
	return Balance{}, false
}
