import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecOutputBudget } from './exec-budget.ts';

test('ExecOutputBudget.take() refuses what would pass the limit, and give() makes room again', () => {
  const budget = new ExecOutputBudget(100);
  assert.equal(budget.take(60), true);
  assert.equal(budget.take(50), false, 'a chunk that does not fit is refused whole');
  assert.equal(budget.used, 60);
  assert.equal(budget.take(40), true);
  budget.give(60);
  assert.equal(budget.take(50), true);
  budget.give(1000);
  assert.equal(budget.used, 0, 'never below zero');
});
