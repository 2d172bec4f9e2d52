/*
 * LD_PRELOAD shim for Debian 12's linux.uml (6.1) on hosts with AVX-512/AMX.
 *
 * UML 6.1 saves and restores a guest process's FPU state with PTRACE_{GET,SET}REGSET
 * NT_X86_XSTATE through a fixed 832-byte buffer (x87, SSE, AVX). The host kernel accepts a
 * SET only with the task's whole XSAVE size (about 2.7 kB with AVX-512), so every SET fails
 * with EFAULT and the first guest process dies ("ptrace set fp regs failed, errno = 14",
 * then "No working init found"). This shim keeps UML's view (the first bytes of the XSAVE
 * area) and does full-size transfers with the host: a SET reads the task's current full
 * state, overlays UML's bytes, and writes the full state back; AVX-512 state beyond UML's
 * view stays what the host task already holds.
 * (UML's PTRACE_GETFPREGS fallback was tried first: guest python3 then hung.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, ...);

long ptrace(enum __ptrace_request request, ...)
{
	static ptrace_fn real;
	static __thread unsigned char full[32768] __attribute__((aligned(64)));
	struct iovec *uiov, fiov = { full, sizeof(full) };
	va_list ap;
	pid_t pid;
	void *addr, *data;
	size_t n;
	long r;

	va_start(ap, request);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if ((request != PTRACE_GETREGSET && request != PTRACE_SETREGSET) ||
	    (unsigned long)addr != NT_X86_XSTATE)
		return real(request, pid, addr, data);

	uiov = data;
	r = real(PTRACE_GETREGSET, pid, addr, &fiov);  /* fiov.iov_len := full size */
	if (r < 0)
		return r;
	n = uiov->iov_len < fiov.iov_len ? uiov->iov_len : fiov.iov_len;
	if (request == PTRACE_GETREGSET) {
		memcpy(uiov->iov_base, full, n);
		uiov->iov_len = n;
		return r;
	}
	memcpy(full, uiov->iov_base, n);
	return real(PTRACE_SETREGSET, pid, addr, &fiov);
}
