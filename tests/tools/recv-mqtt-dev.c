/* Development driver: flespi-recv --mqtt until the hook in flespi-recv.c exists. */
#include "recvmqtt.h"

int
main(int argc, char **argv)
{
	return recv_mqtt_main(argc, argv);
}
