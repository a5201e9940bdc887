/*
 * floor.c - the fork+exec floor for the local-steps benchmark: run
 * `/bin/sh -c true` N times, one after another, waiting for each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	int i, n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200, st;
	pid_t pid;

	for (i = 0; i < n; i++) {
		if ((pid = fork()) == 0) {
			execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid)
			return 1;
	}
	return 0;
}
