// What a transport (TCP server, RTU slave) asks the simulator for each request: an answer, silence (a
// timeout fault, or a unit that is not on this line), or a dropped connection (a disconnect fault).

export type UnitAnswer = { kind: 'reply'; pdu: Buffer } | { kind: 'silent' } | { kind: 'disconnect' };

export interface UnitRouter {
  answer(unitId: number, pdu: Buffer, transport: 'tcp' | 'rtu'): UnitAnswer;
}
