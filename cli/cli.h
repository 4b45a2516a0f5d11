/*
 * cli.h — shared pieces of the `vmnet` command.
 */
#ifndef VMNET_CLI_H
#define VMNET_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <xpc/xpc.h>

/* Connect to vmnetd (starting a per-user one if none runs). Return: fd, or exits with a message. */
int cli_connect(void);
/* One request; prints the daemon's reason and returns non-zero status on failure.
 * Return: the vmnet_return_t of the reply (VMNET_SUCCESS = 1000), *reply set (+1) on success. */
uint32_t cli_request(int fd, uint16_t type, xpc_object_t req, xpc_object_t *reply, const int *fds, int nfds);
/* Print an xpc object as JSON on stdout. */
void cli_print_json(xpc_object_t o, int indent);

int cmd_status(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_run(int argc, char **argv);
/* attach_sock.c: socket options first, then cmd_attach / cmd_run. */
int cmd_attach_any(int argc, char **argv);
int cmd_run_any(int argc, char **argv);
/* Socket paths as vmnetd takes them: sun_path less its zero; the file name as engine/sockfile.h allows. */
#define CLI_SOCK_PATH_MAX 107
#define CLI_SOCK_FILE_MAX 80
/* arg made absolute (vmnetd has another working directory) into out. Return: 0, or -1 after saying why. */
int cli_sock_path(const char *arg, char *out, size_t size);
/* An attachment's default name: the file name without ".sock" ("/run/vm1.sock" -> "vm1"). */
void cli_sock_default_name(const char *path, char *out, size_t size);
int cmd_shutdown(int argc, char **argv);
int cmd_leases(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_network(int argc, char **argv);
int cmd_forward(int argc, char **argv);

#endif
