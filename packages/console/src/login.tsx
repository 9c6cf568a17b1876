// Login (issue 16 §1): the API's token (in <data-dir>/api-token), or a one-time link `edgetwin up` prints.
import { useState } from 'preact/hooks';
import { ApiError, api } from './api.js';

export function Login({ onDone, error }: { onDone: () => void; error?: string }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState(error ?? '');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api.login({ token: token.trim() });
      onDone();
    } catch (err) {
      setProblem(err instanceof ApiError ? err.findings.join(' ') : String(err));
    }
  };
  return (
    <main class="login">
      <h1>edgetwin console</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="current-password"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Log in</button>
        <p class="hint">
          The token is in <code>api-token</code> in the controller’s data dir (<code>.edgetwin/</code> for{' '}
          <code>edgetwin up</code>, which also prints a one-time login link).
        </p>
        {problem && (
          <p role="alert" class="error">
            {problem}
          </p>
        )}
      </form>
    </main>
  );
}
