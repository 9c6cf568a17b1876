# Database sink peers (issue 17): Debian's redis-server and mariadb-server. The tests start each as their
# own process with their own data directory on a loopback port; the system services are never started.
apt_need redis-server mariadb-server
