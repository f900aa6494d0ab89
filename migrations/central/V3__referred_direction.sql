-- Referrals to second line are recorded events (direction `referred`), not movements.
ALTER TABLE movements DROP CONSTRAINT movements_direction_check;
ALTER TABLE movements ADD CONSTRAINT movements_direction_check
    CHECK (direction IN ('entry', 'exit', 'refused_entry', 'referred'));
