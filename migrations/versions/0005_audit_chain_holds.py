"""audit hash chain, legal holds, requisitions, retention purge

Chains the audit events already recorded (one chain per thread, one global), makes the audit
table append-only in the database, adds legal holds (with triggers that refuse to delete held
content on both backends), applications' requisition_id and messages' purged_at.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

from portal.services.compliance.chain import GENESIS_HASH, chain_key, event_hash, timestamp

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)
DATETIME = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)

# An active hold covering content of thread :t between users :a and :b (either order), as SQL.
HOLD_MATCH = """
    h.lifted_at IS NULL AND (
        (h.scope = 'thread' AND h.thread_id = {t})
        OR (h.scope = 'user' AND h.user_id IN ({a}, {b}))
        OR (h.scope = 'requisition' AND EXISTS (
            SELECT 1 FROM applications ap
            WHERE ap.employer_id = h.employer_id AND ap.requisition_id = h.requisition_id
              AND ((ap.employer_id = {a} AND ap.candidate_id = {b})
                   OR (ap.employer_id = {b} AND ap.candidate_id = {a}))))
    )"""

# (table, event, the thread and users its row belongs to, optional WHEN for the trigger)
GUARDED = (
    ('message_threads', 'DELETE', ('OLD.id', 'OLD.employer_id', 'OLD.candidate_id'), None),
    ('messages', 'DELETE', ('OLD.thread_id', 'OLD.sender_id', 'OLD.recipient_id'), None),
    (
        'messages',
        'UPDATE OF purged_at',
        ('OLD.thread_id', 'OLD.sender_id', 'OLD.recipient_id'),
        'OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL',
    ),
    ('applications', 'DELETE', ('NULL', 'OLD.employer_id', 'OLD.candidate_id'), None),
)


def _trigger_name(table: str, event: str) -> str:
    return f"{table}_legal_hold_{event.split()[0].lower()}"


def upgrade() -> None:
    op.create_table('audit_chain_heads',
    sa.Column('chain_key', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain_key', name=op.f('pk_audit_chain_heads'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('position', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_chain_key_position'), ['chain_key', 'position'])

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requisition_id', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_applications_employer_id_requisition_id', ['employer_id', 'requisition_id'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', DATETIME, nullable=True))

    op.create_table('legal_holds',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('thread_id', GUID, nullable=True),
    sa.Column('user_id', GUID, nullable=True),
    sa.Column('employer_id', GUID, nullable=True),
    sa.Column('requisition_id', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('case_reference', sa.String(length=200), nullable=False),
    sa.Column('placed_by_type', sa.String(length=16), nullable=False),
    sa.Column('placed_by_id', GUID, nullable=True),
    sa.Column('placed_at', DATETIME, nullable=False),
    sa.Column('lifted_by_type', sa.String(length=16), nullable=True),
    sa.Column('lifted_by_id', GUID, nullable=True),
    sa.Column('lifted_at', DATETIME, nullable=True),
    sa.Column('lifted_reason', sa.Text(), nullable=True),
    sa.Column('id', GUID, nullable=False),
    sa.CheckConstraint("scope IN ('thread', 'user', 'requisition')", name=op.f('ck_legal_holds_scope')),
    sa.CheckConstraint("placed_by_type IN ('user', 'staff', 'service', 'system')", name=op.f('ck_legal_holds_placed_by_type')),
    sa.CheckConstraint(
        "(scope = 'thread' AND thread_id IS NOT NULL AND user_id IS NULL"
        " AND employer_id IS NULL AND requisition_id IS NULL)"
        " OR (scope = 'user' AND user_id IS NOT NULL AND thread_id IS NULL"
        " AND employer_id IS NULL AND requisition_id IS NULL)"
        " OR (scope = 'requisition' AND employer_id IS NOT NULL"
        " AND requisition_id IS NOT NULL AND thread_id IS NULL AND user_id IS NULL)",
        name=op.f('ck_legal_holds_scope_target'),
    ),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index('ix_legal_holds_thread_id', ['thread_id'], unique=False)
        batch_op.create_index('ix_legal_holds_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_legal_holds_employer_id_requisition_id', ['employer_id', 'requisition_id'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        _create_postgres_triggers()
    else:
        _create_sqlite_triggers()


def _chain_existing_events() -> None:
    events = sa.table(
        'audit_events',
        sa.column('id', GUID),
        sa.column('occurred_at', DATETIME),
        sa.column('actor_type', sa.String()),
        sa.column('actor_id', GUID),
        sa.column('action', sa.String()),
        sa.column('subject_type', sa.String()),
        sa.column('subject_id', GUID),
        sa.column('thread_id', GUID),
        sa.column('details', advanced_alchemy.types.JsonB),
        sa.column('chain_key', sa.String()),
        sa.column('position', sa.Integer()),
        sa.column('prev_hash', sa.String()),
        sa.column('hash', sa.String()),
    )
    heads = sa.table(
        'audit_chain_heads',
        sa.column('chain_key', sa.String()),
        sa.column('position', sa.Integer()),
        sa.column('hash', sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(events).order_by(events.c.occurred_at, events.c.id)).all()
    tips: dict[str, tuple[int, str]] = {}
    for row in rows:
        key = chain_key(row.thread_id)
        position, prev_hash = tips.get(key, (-1, GENESIS_HASH))
        position += 1
        text = lambda value: None if value is None else str(value)  # noqa: E731
        fields = {
            'id': str(row.id),
            'chain': key,
            'position': position,
            'occurred_at': timestamp(row.occurred_at),
            'actor_type': row.actor_type,
            'actor_id': text(row.actor_id),
            'action': row.action,
            'subject_type': row.subject_type,
            'subject_id': text(row.subject_id),
            'thread_id': text(row.thread_id),
            'details': row.details,
        }
        digest = event_hash(prev_hash, fields)
        bind.execute(
            events.update()
            .where(events.c.id == row.id)
            .values(chain_key=key, position=position, prev_hash=prev_hash, hash=digest)
        )
        tips[key] = (position, digest)
    if tips:
        bind.execute(
            heads.insert(),
            [{'chain_key': k, 'position': p, 'hash': h} for k, (p, h) in tips.items()],
        )


def _create_postgres_triggers() -> None:
    op.execute("""
        CREATE FUNCTION portal_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$""")
    op.execute("""
        CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION portal_audit_append_only()""")
    op.execute("""
        CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION portal_audit_append_only()""")
    op.execute(f"""
        CREATE FUNCTION portal_legal_hold_for(t uuid, a uuid, b uuid) RETURNS uuid
        LANGUAGE sql STABLE AS $$
            SELECT h.id FROM legal_holds h
            WHERE {HOLD_MATCH.format(t='t', a='a', b='b')}
            ORDER BY h.placed_at LIMIT 1
        $$""")
    for table, event, (t, a, b), when in GUARDED:
        name = _trigger_name(table, event)
        op.execute(f"""
            CREATE FUNCTION portal_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE hold uuid;
            BEGIN
                hold := portal_legal_hold_for({t}, {a}, {b});
                IF hold IS NULL AND TG_TABLE_NAME = 'applications' THEN
                    SELECT h.id INTO hold FROM legal_holds h JOIN message_threads mt
                        ON h.scope = 'thread' AND h.thread_id = mt.id
                    WHERE mt.application_id = OLD.id AND h.lifted_at IS NULL LIMIT 1;
                END IF;
                IF hold IS NOT NULL THEN
                    RAISE EXCEPTION 'refused: legal hold % covers this % row', hold, TG_TABLE_NAME
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END $$""")
        op.execute(f"""
            CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW
            {f'WHEN ({when})' if when else ''}
            EXECUTE FUNCTION portal_{name}()""")


def _create_sqlite_triggers() -> None:
    for statement in ('UPDATE', 'DELETE'):
        op.execute(f"""
            CREATE TRIGGER audit_events_append_only_{statement.lower()}
            BEFORE {statement} ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {statement} refused'); END""")
    for table, event, (t, a, b), when in GUARDED:
        condition = f"EXISTS (SELECT 1 FROM legal_holds h WHERE {HOLD_MATCH.format(t=t, a=a, b=b)})"
        if table == 'applications':
            condition += (
                " OR EXISTS (SELECT 1 FROM legal_holds h JOIN message_threads mt"
                " ON h.scope = 'thread' AND h.thread_id = mt.id"
                " WHERE mt.application_id = OLD.id AND h.lifted_at IS NULL)"
            )
        if when:
            condition = f"({when}) AND ({condition})"
        op.execute(f"""
            CREATE TRIGGER {_trigger_name(table, event)} BEFORE {event} ON {table}
            WHEN {condition}
            BEGIN SELECT RAISE(ABORT, 'refused: a legal hold covers this {table} row'); END""")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for table, event, _, _ in GUARDED:
            name = _trigger_name(table, event)
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS portal_{name}()")
        op.execute("DROP FUNCTION IF EXISTS portal_legal_hold_for(uuid, uuid, uuid)")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS portal_audit_append_only()")
    else:
        for table, event, _, _ in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, event)}")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only_delete")

    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_legal_holds_employer_id_requisition_id')
        batch_op.drop_index('ix_legal_holds_user_id')
        batch_op.drop_index('ix_legal_holds_thread_id')
    op.drop_table('legal_holds')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_employer_id_requisition_id')
        batch_op.drop_column('requisition_id')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_chain_key_position'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('position')
        batch_op.drop_column('chain_key')
    op.drop_table('audit_chain_heads')
