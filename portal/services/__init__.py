"""Business rules. Each mutation is one function with the actor explicit, and it records its
audit event in the transaction that makes the change."""
