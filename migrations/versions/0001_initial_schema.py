"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 02:35:21.594680
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('occurred_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('thread_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('details', advanced_alchemy.types.JsonB, nullable=False),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.CheckConstraint("actor_type IN ('user', 'staff', 'service', 'system')", name=op.f('ck_audit_events_actor_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_subject_type_subject_id', ['subject_type', 'subject_id'], unique=False)
        batch_op.create_index('ix_audit_events_thread_id_occurred_at', ['thread_id', 'occurred_at'], unique=False)

    op.create_table('staff_users',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('moderator', 'compliance', 'admin')", name=op.f('ck_staff_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('users',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('last_active_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('is_suspended', sa.Boolean(), nullable=False),
    sa.Column('suspended_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('suspended_until', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('suspended_reason', sa.Text(), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('employer', 'candidate')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('applications',
    sa.Column('employer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('candidate_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('job_title', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('submitted', 'reviewing', 'interviewing', 'offered', 'hired', 'rejected', 'withdrawn')", name=op.f('ck_applications_status')),
    sa.ForeignKeyConstraint(['candidate_id'], ['users.id'], name=op.f('fk_applications_candidate_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['employer_id'], ['users.id'], name=op.f('fk_applications_employer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_employer_id'), ['employer_id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('locked_until', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', advanced_alchemy.types.JsonB, nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('in_progress', 'completed')", name=op.f('ck_idempotency_keys_status')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_keys_user_id_key'))
    )
    op.create_table('message_blocklist',
    sa.Column('blocker_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('blocked_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('spam', 'harassment', 'inappropriate_content', 'other')", name=op.f('ck_message_blocklist_reason')),
    sa.ForeignKeyConstraint(['blocked_id'], ['users.id'], name=op.f('fk_message_blocklist_blocked_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocker_id'], ['users.id'], name=op.f('fk_message_blocklist_blocker_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_blocklist')),
    sa.UniqueConstraint('blocker_id', 'blocked_id', name=op.f('uq_message_blocklist_blocker_id_blocked_id'))
    )
    with op.batch_alter_table('message_blocklist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_blocklist_blocked_id'), ['blocked_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_blocklist_blocker_id'), ['blocker_id'], unique=False)

    op.create_table('rate_limit_violations',
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('occurred_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('count_in_window', sa.Integer(), nullable=False),
    sa.Column('limit', sa.Integer(), nullable=False),
    sa.Column('window_seconds', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reviewed_by_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('reviewed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.CheckConstraint("status IN ('open', 'reviewed')", name=op.f('ck_rate_limit_violations_status')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['staff_users.id'], name=op.f('fk_rate_limit_violations_reviewed_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_rate_limit_violations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limit_violations'))
    )
    with op.batch_alter_table('rate_limit_violations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_violations_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index('ix_rate_limit_violations_user_id_occurred_at', ['user_id', 'occurred_at'], unique=False)

    op.create_table('message_threads',
    sa.Column('application_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('employer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('candidate_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('last_message_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('unread_count_employer', sa.Integer(), nullable=False),
    sa.Column('unread_count_candidate', sa.Integer(), nullable=False),
    sa.Column('archived_by_employer', sa.Boolean(), nullable=False),
    sa.Column('archived_by_candidate', sa.Boolean(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('unread_count_candidate >= 0', name=op.f('ck_message_threads_unread_candidate_nonnegative')),
    sa.CheckConstraint('unread_count_employer >= 0', name=op.f('ck_message_threads_unread_employer_nonnegative')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_message_threads_application_id_applications'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['candidate_id'], ['users.id'], name=op.f('fk_message_threads_candidate_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['employer_id'], ['users.id'], name=op.f('fk_message_threads_employer_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_threads'))
    )
    with op.batch_alter_table('message_threads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_threads_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_threads_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_threads_employer_id'), ['employer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_threads_last_message_at'), ['last_message_at'], unique=False)
        batch_op.create_index('uq_message_threads_live_with_application', ['employer_id', 'candidate_id', 'application_id'], unique=True, sqlite_where=sa.text('application_id IS NOT NULL AND is_deleted = 0'), postgresql_where=sa.text('application_id IS NOT NULL AND is_deleted = false'))
        batch_op.create_index('uq_message_threads_live_without_application', ['employer_id', 'candidate_id'], unique=True, sqlite_where=sa.text('application_id IS NULL AND is_deleted = 0'), postgresql_where=sa.text('application_id IS NULL AND is_deleted = false'))

    op.create_table('messages',
    sa.Column('thread_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('sender_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('recipient_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_format', sa.String(length=8), nullable=False),
    sa.Column('message_type', sa.String(length=32), nullable=False),
    sa.Column('attachments', advanced_alchemy.types.JsonB, nullable=False),
    sa.Column('is_read', sa.Boolean(), nullable=False),
    sa.Column('read_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('email_sent', sa.Boolean(), nullable=False),
    sa.Column('email_sent_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('email_opened', sa.Boolean(), nullable=False),
    sa.Column('email_opened_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('is_flagged', sa.Boolean(), nullable=False),
    sa.Column('flagged_reason', sa.String(length=64), nullable=True),
    sa.Column('flagged_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('is_removed', sa.Boolean(), nullable=False),
    sa.Column('removed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("body_format IN ('plain', 'html')", name=op.f('ck_messages_body_format')),
    sa.CheckConstraint("message_type IN ('general', 'interview_invitation', 'interview_reschedule', 'offer_letter', 'rejection', 'application_update', 'other')", name=op.f('ck_messages_message_type')),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_messages_recipient_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['users.id'], name=op.f('fk_messages_sender_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['message_threads.id'], name=op.f('fk_messages_thread_id_message_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_is_read'), ['is_read'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_sender_id'), ['sender_id'], unique=False)
        batch_op.create_index('ix_messages_sender_id_created_at', ['sender_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_thread_id'), ['thread_id'], unique=False)

    op.create_table('email_outbox',
    sa.Column('message_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('recipient_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('claimed_until', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name=op.f('ck_email_outbox_status')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_email_outbox_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_email_outbox_recipient_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_email_outbox_message_id'))
    )
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_outbox_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index('ix_email_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('flag_reports',
    sa.Column('message_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('reporter_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assigned_to_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('decided_by_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('decided_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('decision', sa.String(length=32), nullable=True),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('spam', 'harassment', 'inappropriate_content', 'discrimination', 'scam', 'other')", name=op.f('ck_flag_reports_reason')),
    sa.CheckConstraint("status IN ('open', 'claimed', 'escalated', 'dismissed', 'actioned')", name=op.f('ck_flag_reports_status')),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['staff_users.id'], name=op.f('fk_flag_reports_assigned_to_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_users.id'], name=op.f('fk_flag_reports_decided_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_flag_reports_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_flag_reports_reporter_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flag_reports')),
    sa.UniqueConstraint('message_id', 'reporter_id', name=op.f('uq_flag_reports_message_id_reporter_id'))
    )
    with op.batch_alter_table('flag_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flag_reports_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flag_reports_reporter_id'), ['reporter_id'], unique=False)
        batch_op.create_index('ix_flag_reports_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('moderator_notes',
    sa.Column('author_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('message_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('flag_report_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], name=op.f('fk_moderator_notes_author_id_staff_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flag_report_id'], ['flag_reports.id'], name=op.f('fk_moderator_notes_flag_report_id_flag_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_moderator_notes_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_moderator_notes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderator_notes'))
    )
    with op.batch_alter_table('moderator_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderator_notes_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderator_notes_flag_report_id'), ['flag_report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderator_notes_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderator_notes_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('moderator_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderator_notes_user_id'))
        batch_op.drop_index(batch_op.f('ix_moderator_notes_message_id'))
        batch_op.drop_index(batch_op.f('ix_moderator_notes_flag_report_id'))
        batch_op.drop_index(batch_op.f('ix_moderator_notes_author_id'))

    op.drop_table('moderator_notes')
    with op.batch_alter_table('flag_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_flag_reports_status_created_at')
        batch_op.drop_index(batch_op.f('ix_flag_reports_reporter_id'))
        batch_op.drop_index(batch_op.f('ix_flag_reports_message_id'))

    op.drop_table('flag_reports')
    with op.batch_alter_table('email_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_email_outbox_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_email_outbox_recipient_id'))

    op.drop_table('email_outbox')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_thread_id'))
        batch_op.drop_index('ix_messages_sender_id_created_at')
        batch_op.drop_index(batch_op.f('ix_messages_sender_id'))
        batch_op.drop_index(batch_op.f('ix_messages_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_messages_is_read'))
        batch_op.drop_index(batch_op.f('ix_messages_created_at'))

    op.drop_table('messages')
    with op.batch_alter_table('message_threads', schema=None) as batch_op:
        batch_op.drop_index('uq_message_threads_live_without_application', sqlite_where=sa.text('application_id IS NULL AND is_deleted = 0'), postgresql_where=sa.text('application_id IS NULL AND is_deleted = false'))
        batch_op.drop_index('uq_message_threads_live_with_application', sqlite_where=sa.text('application_id IS NOT NULL AND is_deleted = 0'), postgresql_where=sa.text('application_id IS NOT NULL AND is_deleted = false'))
        batch_op.drop_index(batch_op.f('ix_message_threads_last_message_at'))
        batch_op.drop_index(batch_op.f('ix_message_threads_employer_id'))
        batch_op.drop_index(batch_op.f('ix_message_threads_candidate_id'))
        batch_op.drop_index(batch_op.f('ix_message_threads_application_id'))

    op.drop_table('message_threads')
    with op.batch_alter_table('rate_limit_violations', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_limit_violations_user_id_occurred_at')
        batch_op.drop_index(batch_op.f('ix_rate_limit_violations_occurred_at'))

    op.drop_table('rate_limit_violations')
    with op.batch_alter_table('message_blocklist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_blocklist_blocker_id'))
        batch_op.drop_index(batch_op.f('ix_message_blocklist_blocked_id'))

    op.drop_table('message_blocklist')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_employer_id'))
        batch_op.drop_index(batch_op.f('ix_applications_candidate_id'))

    op.drop_table('applications')
    op.drop_table('users')
    op.drop_table('staff_users')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_thread_id_occurred_at')
        batch_op.drop_index('ix_audit_events_subject_type_subject_id')
        batch_op.drop_index(batch_op.f('ix_audit_events_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
