// What one piece of twin work produced besides store writes: messages to publish once the transaction has
// committed, and whether the outbox grew. Publishing only after commit is what makes a /result a promise
// that the update is on disk.

export interface Outgoing {
  topic: string;
  payload: string;
  retain?: boolean;
}

export class Effects {
  readonly messages: Outgoing[] = [];
  outboxAppended = 0;

  publish(topic: string, body: unknown, retain = false): void {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    this.messages.push(retain ? { topic, payload, retain } : { topic, payload });
  }
}
