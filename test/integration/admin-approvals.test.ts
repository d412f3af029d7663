/**
 * Issue 12 — four eyes. With `admin: { second_approval: [lower_client_minimum, remove_user_factors] }` such
 * an action is created pending (202) and takes effect only when a different admin approves it; the
 * requester cannot approve their own; racing approvals execute it exactly once; an approval of a change
 * made stale by a later edit is refused; raising a minimum is not held back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { policyFile, startTestServer, type TestServer } from '../helpers/server.js';
import { makeUser } from '../helpers/rp.js';
import { accessToken, adminToken, apiCaller, expectDocumented, expectProblem } from '../helpers/admin-api.js';
import { createClient } from '../../src/admin/service.js';

describe.each(storeMatrix)('admin four eyes on $name', (kind) => {
  let srv: TestServer;
  let api: ReturnType<typeof apiCaller>;
  let alice: string;
  let bob: string;
  let carol: string;
  let aliceId: string;
  let bobId: string;

  beforeAll(async () => {
    const file = policyFile('admin:\n  second_approval: [lower_client_minimum, remove_user_factors, start_recovery]\n');
    srv = await startTestServer(kind, { STEPWISE_POLICY_FILE: file });
    api = apiCaller(srv);
    const a = await adminToken(srv, 'stepwise:admin', 'alice');
    const b = await adminToken(srv, 'stepwise:admin', 'bob');
    alice = a.token;
    aliceId = a.creds.clientId;
    bob = b.token;
    bobId = b.creds.clientId;
    carol = (await adminToken(srv, 'stepwise:admin', 'carol')).token;
  });
  afterAll(async () => srv?.close());

  const totp = (userId: string) => srv.container.factors.insert({ userId, kind: 'totp', name: 'Phone', status: 'active', secretEnc: 'sealed' });

  it('removing a factor is pending until another admin approves; the requester cannot approve; it runs once', async () => {
    const u = await makeUser(srv);
    const f = await totp(u.id);
    const held = await api('DELETE', `/users/${u.id}/factors/${f.id}`, { token: alice });
    expect(held.status, held.text).toBe(202);
    expectDocumented('DELETE', '/users/{id}/factors/{factorId}', held.json);
    const approval = held.json.approval;
    expect(approval).toMatchObject({ kind: 'remove_user_factors', status: 'pending', requested_by: aliceId, action: { userId: u.id, factorId: f.id } });
    expect(approval.summary).toContain(u.email);
    // Nothing happened yet.
    expect((await srv.container.factors.listByUser(u.id)).map((x) => x.id)).toEqual([f.id]);

    const listed = await api('GET', '/approvals?status=pending', { token: bob });
    expectDocumented('GET', '/approvals', listed.json);
    expect(listed.json.items.map((x: { id: string }) => x.id)).toContain(approval.id);

    const self = await api('POST', `/approvals/${approval.id}/approve`, { token: alice });
    expectProblem(self, 403, 'forbidden');
    expect(self.json.detail).toMatch(/another admin/);
    expect((await api('GET', `/approvals/${approval.id}`, { token: bob })).json.status).toBe('pending');

    const ok = await api('POST', `/approvals/${approval.id}/approve`, { token: bob });
    expect(ok.status, ok.text).toBe(200);
    expectDocumented('POST', '/approvals/{id}/approve', ok.json);
    expect(ok.json).toMatchObject({ status: 'executed', decided_by: bobId, result: { user_id: u.id, removed: [{ id: f.id }] } });
    expect(await srv.container.factors.listByUser(u.id)).toEqual([]);

    // Approving again: conflict, nothing runs twice.
    expectProblem(await api('POST', `/approvals/${approval.id}/approve`, { token: carol }), 409, 'conflict');
    const removals = (await srv.container.audit.list({ userId: u.id, type: 'factor.removed' })).filter((e) => e.outcome === 'success');
    expect(removals).toHaveLength(1);
    expect(removals[0]!.details).toMatchObject({ actor: aliceId, approvedBy: bobId, factorIds: [f.id] });
    const approvedEvents = await srv.container.audit.list({ type: 'admin.approval.approved' });
    expect(approvedEvents.filter((e) => e.details.approvalId === approval.id && e.outcome === 'success').map((e) => e.details.actor)).toEqual([bobId]);
    expect(approvedEvents.some((e) => e.details.approvalId === approval.id && e.outcome === 'failure' && e.details.reason === 'self_approval')).toBe(true);
  });

  it('an admin cannot approve through a service client they created (or two created by the same client)', async () => {
    const mint = async (token: string, name: string) => {
      const created = await api('POST', '/service-clients', { token, body: { scopes: ['stepwise:admin'], client_name: name } });
      expect(created.status, created.text).toBe(201);
      return accessToken(srv, { clientId: created.json.client_id, secret: created.json.client_secret }, 'stepwise:admin');
    };
    const puppet = await mint(alice, 'alice-2');
    const u = await makeUser(srv);
    await totp(u.id);
    const held = await api('DELETE', `/users/${u.id}/factors`, { token: alice });
    expectProblem(await api('POST', `/approvals/${held.json.approval.id}/approve`, { token: puppet }), 403, 'forbidden');
    // The other way round: a puppet asks, its creator approves.
    const byPuppet = await api('DELETE', `/users/${u.id}/factors`, { token: puppet });
    expectProblem(await api('POST', `/approvals/${byPuppet.json.approval.id}/approve`, { token: alice }), 403, 'forbidden');
    // Siblings made by one client.
    const [p1, p2] = [await mint(puppet, 'p1'), await mint(puppet, 'p2')];
    const bySibling = await api('DELETE', `/users/${u.id}/factors`, { token: p1 });
    expectProblem(await api('POST', `/approvals/${bySibling.json.approval.id}/approve`, { token: p2 }), 403, 'forbidden');
    expect(await srv.container.factors.listByUser(u.id)).toHaveLength(1);
    // An unrelated admin can.
    expect((await api('POST', `/approvals/${held.json.approval.id}/approve`, { token: bob })).json.status).toBe('executed');
  });

  it('parallel approvals by different admins execute exactly once', async () => {
    const u = await makeUser(srv);
    await totp(u.id);
    await totp(u.id);
    const held = await api('DELETE', `/users/${u.id}/factors`, { token: alice });
    expect(held.status).toBe(202);
    const id = held.json.approval.id;
    const results = await Promise.all([bob, carol, bob, carol, bob, carol].map((token) => api('POST', `/approvals/${id}/approve`, { token })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    const winner = results.find((r) => r.status === 200)!;
    expect(winner.json.status).toBe('executed');
    expect(winner.json.result.removed).toHaveLength(2);
    const removals = (await srv.container.audit.list({ userId: u.id, type: 'factor.removed' })).filter((e) => e.outcome === 'success');
    expect(removals).toHaveLength(1);
  });

  it('starting a recovery is held until a second admin approves it', async () => {
    const u = await makeUser(srv);
    const held = await api('POST', `/users/${u.id}/recoveries`, { token: alice, body: { reason: 'lost phone', evidence: 'ticket SEC-9' } });
    expect(held.status, held.text).toBe(202);
    expect(held.json.approval).toMatchObject({ kind: 'start_recovery', requested_by: aliceId });
    expect((await api('GET', `/users/${u.id}/recoveries`, { token: bob })).json).toEqual([]);
    const ok = await api('POST', `/approvals/${held.json.approval.id}/approve`, { token: bob });
    expect(ok.json).toMatchObject({ status: 'executed', result: { user_id: u.id, status: 'pending', requested_by: aliceId } });
    expect((await api('GET', `/users/${u.id}/recoveries`, { token: bob })).json).toHaveLength(1);
  });

  it('lowering a client minimum is held; raising it is not; rejection and staleness stop it', async () => {
    const client = await createClient(srv.container, { redirectUris: ['https://rp.example/cb'] });
    const id = client.client_id;
    const raised = await api('PUT', `/clients/${id}/policy`, { token: alice, body: { min_acr: 'loa2' } });
    expect(raised.status, raised.text).toBe(200);
    expect(raised.json.status).toBe('applied');

    // Lowering: pending, then rejected by bob — never applied.
    const lower1 = await api('PUT', `/clients/${id}/policy`, { token: alice, body: { min_acr: 'loa1' } });
    expect(lower1.status).toBe(202);
    expectDocumented('PUT', '/clients/{id}/policy', lower1.json);
    expect(lower1.json.approval).toMatchObject({ kind: 'lower_client_minimum', action: { clientId: id, policy: { min_acr: 'loa1' } } });
    const rejected = await api('POST', `/approvals/${lower1.json.approval.id}/reject`, { token: bob });
    expect(rejected.json).toMatchObject({ status: 'rejected', decided_by: bobId });
    expectProblem(await api('POST', `/approvals/${lower1.json.approval.id}/approve`, { token: carol }), 409, 'conflict');
    expect((await srv.container.clients.find(id))?.stepwise_policy).toEqual({ min_acr: 'loa2' });

    // Dropping the minimum altogether is lowering too; approved by bob it applies.
    const lower2 = await api('PUT', `/clients/${id}/policy`, { token: alice, body: { allowed_factors: ['totp'] } });
    expect(lower2.status).toBe(202);
    const approved = await api('POST', `/approvals/${lower2.json.approval.id}/approve`, { token: bob });
    expect(approved.json).toMatchObject({ status: 'executed', result: { client_id: id, policy: { allowed_factors: ['totp'] } } });
    expect((await srv.container.clients.find(id))?.stepwise_policy).toEqual({ allowed_factors: ['totp'] });

    // A pending lowering made stale by a later edit fails at approval instead of overwriting it.
    await api('PUT', `/clients/${id}/policy`, { token: alice, body: { min_acr: 'loa2', allowed_factors: ['totp'] } });
    const lower3 = await api('PUT', `/clients/${id}/policy`, { token: alice, body: { min_acr: 'loa1' } });
    expect(lower3.status).toBe(202);
    await api('PATCH', `/clients/${id}`, { token: carol, body: { client_name: 'Renamed meanwhile' } });
    const stale = await api('POST', `/approvals/${lower3.json.approval.id}/approve`, { token: bob });
    expect(stale.json).toMatchObject({ status: 'failed', result: { error: 'conflict' } });
    expect((await srv.container.clients.find(id))?.stepwise_policy).toEqual({ min_acr: 'loa2', allowed_factors: ['totp'] });

    // A lock-out policy is refused before it is ever pending.
    expectProblem(await api('PUT', `/clients/${id}/policy`, { token: alice, body: { min_acr: 'phr', allowed_factors: ['sms'] } }), 400, 'invalid_form', 'min_acr');
  });
});
