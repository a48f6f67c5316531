# Sourced by the harness: server options every throwaway cluster gets.
# KANT_DESTDIR (make test KANT_DESTDIR=/some/dir) installs kant there instead of
# into the server's directories (no root needed) and points the server at it
# with Debian's extension_destdir and dynamic_library_path.
# The fakes (Glue, Airflow, Slack) listen on loopback, which kant refuses by
# default (kant.allowed_hosts = '*': public addresses only).
kant_pg_opts=(-o "kant.allowed_hosts=*, 127.0.0.1")
if [ -n "${KANT_DESTDIR:-}" ]; then
	kant_destdir=$(cd "$KANT_DESTDIR" && pwd)
	kant_pg_opts+=(-o "extension_destdir=$kant_destdir"
		-o "dynamic_library_path=$kant_destdir$(pg_config --pkglibdir):$(pg_config --pkglibdir)")
fi
# The server's environment: variables the secret tests read (kant reads only
# KANT_*), and the proxy variables libcurl reads by default, pointing at a
# proxy that security.py runs on that port (recording what reaches it) and
# that is not there for the other suites: kant must never use them
# (kant.http_proxy alone says which proxy).  libcurl reads http_proxy in
# lower case only, https_proxy and ALL_PROXY in either; no_proxy=localhost
# lets security.py show that kant.http_proxy is used for localhost too.
# suites.sh writes them into the pg_virtualenv cluster's environment file;
# valgrind.sh and sanitize.sh start their server with them.
# Both fixed ports lie below Linux's ephemeral range (32768-60999): one in it
# can be the local port of any outgoing connection when the suite binds it.
export KANT_TEST_ENV_PROXY_PORT=23391
# ECS/EKS put the container credentials endpoint in the server's environment:
# test/scripts/credentials.py serves it on this port (fake_cloud.FakeAWS).
export KANT_TEST_CONTAINER_PORT=23392
export KANT_TEST_CONTAINER_TOKEN=kant-test-pod-identity-token
kant_env_proxy=http://127.0.0.1:$KANT_TEST_ENV_PROXY_PORT
kant_server_env=(KANT_TEST_AIRFLOW_USER=kant KANT_TEST_AIRFLOW_PASSWORD=s3cret-pw
	PGDATA_NOT_A_SECRET_FOR_KANT=server-internal-value
	http_proxy=$kant_env_proxy https_proxy=$kant_env_proxy HTTPS_PROXY=$kant_env_proxy
	ALL_PROXY=$kant_env_proxy all_proxy=$kant_env_proxy no_proxy=localhost
	AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$KANT_TEST_CONTAINER_PORT/v2/credentials/kant-test
	AWS_CONTAINER_AUTHORIZATION_TOKEN=$KANT_TEST_CONTAINER_TOKEN)
