-- A document's crossings in the order the reports read them (time, then seq): the overstayers
-- report scans every document along this index without sorting, and a history is one range.
DROP INDEX movements_by_holder;
CREATE INDEX movements_by_holder ON movements (holder, recorded_at, seq);
