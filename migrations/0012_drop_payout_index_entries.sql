-- 0012_drop_payout_index_entries.sql: written by hand (data only; the schema is unchanged, db-patch has nothing to say).
-- Applied by the 'migrate' command in one transaction, together with its journal row.
--
-- The fund index (Funds/FundStreams.cs, FundIndexEntry) no longer has an entry per payout: a payout's fund is read from its row of
-- the payout register's table (report_payouts, kept inline in the release's or reissue's transaction), since writing an index
-- document per payout was 10,000 upserts in the transaction of a 10,000-payout release (issue #7). The entries written before are
-- never read again; this deletes them, so the index holds what the model says it holds (one entry per round). One delete of as
-- many rows as payouts issued; nothing waits on it but a release or reissue committing at the same moment.

DELETE FROM ledger.mt_doc_fundindexentry WHERE lower(data ->> 'kind') = 'payout';
