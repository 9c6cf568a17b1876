# Our layer over Bumble's virtual controller and link (issue 12): what a real controller does and
# Bumble 0.0.236's emulation does not, found by driving noble (@stoprocent/noble 2.8) over a PTY.
# Each fix names the gap it closes; docs/decisions.md (issue 12) lists them. Nothing here is copied
# from Bumble: it subclasses Bumble's Controller and LocalLink and overrides their handlers.
from __future__ import annotations

import asyncio
import logging

from bumble import core, hci, ll
from bumble.controller import Controller, LegacyAdvertiser
from bumble.link import LocalLink

logger = logging.getLogger('edgetwin.bumble')

ADV_TYPES = hci.HCI_LE_Set_Advertising_Parameters_Command.AdvertisingType
REPORT_TYPES = hci.HCI_LE_Advertising_Report_Event.EventType

# advertising type (LE Set Advertising Parameters) -> advertising report event type
_REPORT_TYPE = {
    ADV_TYPES.ADV_IND: REPORT_TYPES.ADV_IND,
    ADV_TYPES.ADV_SCAN_IND: REPORT_TYPES.ADV_SCAN_IND,
    ADV_TYPES.ADV_NONCONN_IND: REPORT_TYPES.ADV_NONCONN_IND,
}


class EmulatedAdvertisement(ll.AdvInd):
    """An advertising PDU that keeps what a real air interface carries and Bumble's AdvInd drops:
    the advertising type (connectable or not) and the scan response a scanner would get."""

    def __init__(self, advertiser_address: hci.Address, data: bytes, adv_type: int, scan_response: bytes):
        super().__init__(advertiser_address=advertiser_address, data=data)
        self.adv_type = adv_type
        self.scan_response = scan_response


class FixedLegacyAdvertiser(LegacyAdvertiser):
    # Gap: Bumble sends only ADV_IND; a non-connectable beacon (ADV_NONCONN_IND) or a scannable one
    # was never seen by any scanner.
    def send_advertising_data(self) -> None:
        if not self.enabled or self.advertising_type not in _REPORT_TYPE:
            return
        self.controller.send_advertising_pdu(
            EmulatedAdvertisement(self.address, self.advertising_data, self.advertising_type, self.scan_response_data)
        )


class FixedLink(LocalLink):
    """The LocalLink plus radio range: a controller marked out of range neither sends nor receives."""

    def __init__(self) -> None:
        super().__init__()
        self.out_of_range: set[Controller] = set()

    # Gap (the blocker): LE data went out with the sender's *random* address as its source, while the
    # peer knows the connection by the address it was made with (often the public one): the receiver
    # found no connection and dropped every packet, so GATT discovery hung. The source is now the
    # address the sender's connection to that peer uses.
    def send_acl_data(self, sender_controller, destination_address, transport, data):
        if transport != core.PhysicalTransport.LE:
            return super().send_acl_data(sender_controller, destination_address, transport, data)
        if sender_controller in self.out_of_range:
            return
        connection = sender_controller.le_connections.get(destination_address)
        if connection is None:
            return
        destination = self.find_le_controller(destination_address)
        if destination is None or destination in self.out_of_range:
            return
        source = connection.self_address
        asyncio.get_running_loop().call_soon(lambda: destination.on_link_acl_data(source, transport, data))

    def send_advertising_pdu(self, sender_controller, packet):
        if sender_controller in self.out_of_range:
            return
        loop = asyncio.get_running_loop()
        for c in self.controllers:
            if c is not sender_controller and c not in self.out_of_range:
                loop.call_soon(c.on_ll_advertising_pdu, packet)

    def send_ll_control_pdu(self, sender_address, receiver_address, packet):
        receiver = self.find_le_controller(receiver_address)
        if receiver is None or receiver in self.out_of_range:
            return
        sender = self.find_le_controller(sender_address)
        if sender in self.out_of_range:
            return
        asyncio.get_running_loop().call_soon(lambda: receiver.on_ll_control_pdu(sender_address, packet))

    def drop_links(self, controller: Controller, reason: int = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR) -> None:
        """The radio link of every connection of `controller` is lost: both ends see a supervision
        timeout (reason 0x08), as after a peripheral moved out of range or lost power."""
        for connection in list(controller.le_connections.values()):
            peer = self.find_le_controller(connection.peer_address)
            if peer is not None:
                peer_connection = peer.le_connections.get(connection.self_address)
                if peer_connection is not None:
                    peer.on_le_disconnected(peer_connection, reason)
            controller.on_le_disconnected(connection, reason)


class FixedController(Controller):
    """Bumble's virtual controller with the gaps noble runs into closed."""

    # Legacy advertising and scanning only, as on the Raspberry Pi's built-in controllers: Bumble's
    # extended-advertising report path reports every advertisement connectable.
    le_features = Controller.le_features & ~hci.LeFeatureMask.LE_EXTENDED_ADVERTISING & ~hci.LeFeatureMask.LE_PERIODIC_ADVERTISING
    rssi = -58

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.le_legacy_advertiser = FixedLegacyAdvertiser(self)
        self.reported: set[tuple[str, int]] = set()

    # Gap: a command Bumble does not know got no reply at all (the host waits forever). A real
    # controller answers Unknown HCI Command (0x01) in a Command Complete event.
    def on_hci_command_packet(self, command: hci.HCI_Command) -> None:
        handler = getattr(self, f'on_{command.name.lower()}', None)
        if handler is None and not isinstance(command, hci.HCI_SyncCommand):
            logger.info('unknown HCI command 0x%04X answered with status 0x01', command.op_code)
            self.send_hci_packet(
                hci.HCI_Command_Complete_Event(
                    num_hci_command_packets=1,
                    command_opcode=command.op_code,
                    return_parameters=hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.UNKNOWN_HCI_COMMAND_ERROR),
                )
            )
            return
        super().on_hci_command_packet(command)

    # Gap: HCI_Reset cleared no link, so a host killed mid-connection left its peripherals connected
    # (they never advertised again). Reset now ends every connection (the peers see the remote
    # side terminate) and stops scanning, advertising and a pending connection.
    def on_hci_reset_command(self, command):
        for connection in list(self.le_connections.values()):
            connection.send_ll_control_pdu(ll.TerminateInd(hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR))
            del self.le_connections[connection.peer_address]
        self.le_scan_enable = False
        self.filter_duplicates = False
        self.reported.clear()
        self.pending_le_connection = None
        self.le_legacy_advertiser.stop()
        return super().on_hci_reset_command(command)

    # Gap: Read RSSI was answered with a status byte only (noble's updateRssi then read past the end
    # of the buffer and threw ERR_BUFFER_OUT_OF_BOUNDS).
    def on_hci_read_rssi_command(self, command: hci.HCI_Read_RSSI_Command):
        if self.find_connection_by_handle(command.handle) is None:
            return hci.HCI_Read_RSSI_ReturnParameters(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, handle=command.handle, rssi=0
            )
        return hci.HCI_Read_RSSI_ReturnParameters(status=hci.HCI_ErrorCode.SUCCESS, handle=command.handle, rssi=self.rssi)

    # Gap: LE Set Data Length was unknown though the LE features advertise Data Length Extension.
    # The link keeps 27-octet PDUs, which the command allows (the controller may choose).
    def on_hci_le_set_data_length_command(self, command: hci.HCI_LE_Set_Data_Length_Command):
        status = (
            hci.HCI_ErrorCode.SUCCESS
            if self.find_le_connection_by_handle(command.connection_handle)
            else hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
        )
        return hci.HCI_StatusAndConnectionHandleReturnParameters(status=status, connection_handle=command.connection_handle)

    # Gap: data towards the host was one ACL packet however long; a controller fragments it to its
    # LE ACL buffer length (first fragment PB=0b10, continuations PB=0b01).
    def on_link_acl_data(self, sender_address, transport, data):
        if transport != core.PhysicalTransport.LE:
            return super().on_link_acl_data(sender_address, transport, data)
        connection = self.le_connections.get(sender_address)
        if connection is None:
            logger.debug('no connection for %s', sender_address)
            return
        size = self.le_acl_data_packet_length
        for offset in range(0, max(len(data), 1), size):
            chunk = data[offset : offset + size]
            self.send_hci_packet(hci.HCI_AclDataPacket(connection.handle, 2 if offset == 0 else 1, 0, len(chunk), chunk))

    # Gaps: every advertisement was reported connectable (ADV_IND), the scan response repeated the
    # advertising data, and duplicate filtering was ignored. Reports now carry the advertiser's type,
    # a scan response only for scannable advertising in an active scan, and with filtering on each
    # advertiser (and report type) once per scan.
    def on_advertising_pdu(self, pdu):
        if not isinstance(pdu, EmulatedAdvertisement):
            return super().on_advertising_pdu(pdu)
        if self.le_scan_enable:
            self._report(pdu.advertiser_address, _REPORT_TYPE[pdu.adv_type], pdu.data)
            scannable = pdu.adv_type in (ADV_TYPES.ADV_IND, ADV_TYPES.ADV_SCAN_IND)
            if scannable and self.le_scan_type == 1:
                self._report(pdu.advertiser_address, REPORT_TYPES.SCAN_RSP, pdu.scan_response)
        pending = self.pending_le_connection
        if pending and pending.peer_address == pdu.advertiser_address and pdu.adv_type == ADV_TYPES.ADV_IND:
            self.create_le_connection(pdu.advertiser_address)

    def _report(self, address: hci.Address, event_type: int, data: bytes) -> None:
        key = (str(address), int(event_type))
        if self.filter_duplicates:
            if key in self.reported:
                return
            self.reported.add(key)
        report = hci.HCI_LE_Advertising_Report_Event.Report(
            event_type=event_type, address_type=address.address_type, address=address, data=data, rssi=self.rssi
        )
        self.send_hci_packet(hci.HCI_LE_Advertising_Report_Event([report]))

    def on_hci_le_set_scan_enable_command(self, command):
        if command.le_scan_enable and not self.le_scan_enable:
            self.reported.clear()  # a new scan reports every advertiser again
        return super().on_hci_le_set_scan_enable_command(command)
