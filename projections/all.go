package projections

// All returns the factories of every projection of the ledger, in a fixed
// order: quota usage, daily shop totals, duplicate-compensation warnings,
// payout records, approvals queue, funding balances.
func All() []Factory {
	return []Factory{
		NewQuotaUsage,
		NewDailyTotals,
		NewDuplicateWarnings,
		NewPayoutRecords,
		NewApprovals,
		NewFundingBalances,
	}
}

// Compile-time checks: every projection is a Projector.
var (
	_ Projector = (*QuotaUsage)(nil)
	_ Projector = (*DailyTotals)(nil)
	_ Projector = (*DuplicateWarnings)(nil)
	_ Projector = (*PayoutRecords)(nil)
	_ Projector = (*Approvals)(nil)
	_ Projector = (*FundingBalances)(nil)
)
