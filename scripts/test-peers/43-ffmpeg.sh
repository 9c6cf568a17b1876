# Debian's ffmpeg (issue 13): the emulated camera (ipycam) encodes its RTSP stream with it, and the ONVIF
# mapper's saveFrame/saveVideo tests run the mapper's ffmpeg jobs against that stream.
apt_need ffmpeg
