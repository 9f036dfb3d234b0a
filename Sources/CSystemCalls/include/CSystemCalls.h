// System calls that Swift's Glibc module does not expose (variadic `syscall`, `renameat2`).
#ifndef C_SYSTEM_CALLS_H
#define C_SYSTEM_CALLS_H

/// Atomically exchanges two existing paths (Linux renameat2 with RENAME_EXCHANGE). Returns 0, or
/// -1 with errno set (EINVAL or ENOSYS where the file system or kernel cannot exchange).
int plaid_rename_exchange(const char *from, const char *to);

#endif
