import type { FaucetLoadStatus } from './live.js';
import type { FaucetConfigOutcome } from '../faucet/types.js';

/** Remembers what FAUCET made of dovesnap's last configuration write, for the live view. */
export class FaucetLoadTracker {
  private current: FaucetLoadStatus = { Outcome: 'none', At: null, Message: null, LastRefusal: null };
  private readonly listeners = new Set<() => void>();

  record(outcome: FaucetConfigOutcome, detail: string | undefined, at: Date = new Date()): void {
    const when = at.toISOString();
    this.current = {
      Outcome: outcome,
      At: when,
      Message: detail ?? null,
      LastRefusal:
        outcome === 'rejected'
          ? { At: when, Message: detail ?? 'FAUCET refused the configuration' }
          : this.current.LastRefusal,
    };
    for (const l of this.listeners) l();
  }

  status(): FaucetLoadStatus {
    return this.current;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
