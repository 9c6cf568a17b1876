# Python test peers (asyncua, bumble, ...): one pinned requirements file each in python/.
python_peers
