import { Component, OnInit, inject, signal } from '@angular/core';
import { Observable } from 'rxjs';
import { Person, errorMessage } from './api';
import { AuthService } from './auth.service';
import { PeopleService } from './people.service';

@Component({
  selector: 'app-people',
  template: `
    <h2>People</h2>
    <button type="button" (click)="reload()" [disabled]="busy()">Reload</button>
    @if (message()) {
      <p [class.error]="isError()" role="status">{{ message() }}</p>
    }
    <table>
      <thead><tr><th>#</th><th>First name</th><th>Last name</th><th></th></tr></thead>
      <tbody>
        @for (p of people(); track p.id) {
          <tr>
            <td>{{ p.id }}</td><td>{{ p.firstName }}</td><td>{{ p.lastName }}</td>
            <td><button type="button" (click)="remove(p)" [disabled]="busy()">Delete</button></td>
          </tr>
        } @empty {
          <tr><td colspan="4">No people yet.</td></tr>
        }
      </tbody>
    </table>
    <h3>Add a person</h3>
    <form (submit)="add($event, first, last)">
      <label for="first">First name</label>
      <input #first id="first" maxlength="30" required />
      <label for="last">Last name</label>
      <input #last id="last" maxlength="30" required />
      <button type="submit" [disabled]="busy()">Add</button>
    </form>
  `,
})
export class PeoplePage implements OnInit {
  private readonly auth = inject(AuthService);
  private readonly peopleApi = inject(PeopleService);
  protected readonly people = signal<Person[]>([]);
  protected readonly busy = signal(false);
  protected readonly message = signal('');
  protected readonly isError = signal(false);

  ngOnInit(): void {
    this.reload();
  }

  reload(): void {
    // Fired together: if the access cookie expired, both 401s share one refresh.
    this.auth.me().subscribe({ error: (err: unknown) => this.fail(err) });
    this.run(this.peopleApi.list(), (list) => this.people.set(list));
  }

  add(event: Event, first: HTMLInputElement, last: HTMLInputElement): void {
    event.preventDefault();
    const input = { firstName: first.value.trim(), lastName: last.value.trim() };
    this.run(this.peopleApi.create(input), (p) => {
      first.value = last.value = '';
      this.people.update((list) => [...list, p]);
      this.ok(`Added ${p.firstName} ${p.lastName}.`);
    });
  }

  remove(p: Person): void {
    this.run(this.peopleApi.remove(p.id), () => {
      this.people.update((list) => list.filter((x) => x.id !== p.id));
      this.ok(`Deleted ${p.firstName} ${p.lastName}.`);
    });
  }

  private run<T>(request: Observable<T>, onOk: (value: T) => void): void {
    this.busy.set(true);
    request.subscribe({
      next: onOk,
      error: (err: unknown) => {
        this.fail(err);
        this.busy.set(false);
      },
      complete: () => this.busy.set(false),
    });
  }

  private ok(text: string): void {
    this.isError.set(false);
    this.message.set(text);
  }

  private fail(err: unknown): void {
    this.isError.set(true);
    this.message.set(errorMessage(err)); // e.g. the 403 "Insufficient permissions"
  }
}
