"""plaid's errors as Python exceptions. Each carries plaid's own sentence: what was wrong, where,
and what to do."""


class PlaidError(Exception):
    """Any error plaid reports."""


class InvalidInputError(PlaidError, ValueError):
    """A bad argument or input: wrong dimension, a bad filter, an id already in the index."""


class IndexNotFoundError(PlaidError, FileNotFoundError):
    """No index (or model folder) where one was named."""


class IndexLockedError(PlaidError):
    """Another process is writing to the index; wait for it, or stop it, and try again."""


class IndexExistsError(PlaidError, FileExistsError):
    """A build would replace an index without ``overwrite=True``, or something that is not one."""


class CorruptIndexError(PlaidError):
    """A file of the index is damaged."""


# The C interface's status codes (Sources/PlaidC/ABI.swift, PlaidStatus) and what each raises.
BY_STATUS = {
    1: InvalidInputError,
    2: IndexNotFoundError,
    3: IndexLockedError,
    4: IndexExistsError,
    5: CorruptIndexError,
    6: PlaidError,
}
