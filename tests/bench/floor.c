/*
 * floor.c - the fork+exec floor for the local-steps benchmark: run
 * `/bin/sh -c true` N times and wait for each, at most P at a time
 * (default 1: one after another).
 *
 *	floor [N [P]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
	int p = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 1;
	int started = 0, running = 0, st;
	pid_t pid;

	if (p < 1)
		p = 1;
	while (started < n || running > 0) {
		if (started < n && running < p) {
			if ((pid = fork()) == 0) {
				execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
				_exit(127);
			}
			if (pid < 0)
				return 1;
			started++;
			running++;
			continue;
		}
		if (wait(&st) < 0)
			return 1;
		running--;
	}
	return 0;
}
